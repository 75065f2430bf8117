//! NumPy's `.npz`: a ZIP archive of `.npy` files, one per named array, stored or deflated
//! (`savez` / `savez_compressed`).

use super::{io_error, npy, zip};
use crate::array::Array;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Parses `.npz` bytes into arrays by name (the `.npy` suffix of each entry dropped).
///
/// ```
/// let a = rmx::Array::from_slice(&[1i32, 2, 3], &[3])?;
/// let arrays = [("a".to_string(), a)].into();
/// for compressed in [false, true] {
///     let back = rmx::io::npz_from_bytes(&rmx::io::npz_to_bytes(&arrays, compressed)?)?;
///     assert_eq!(back["a"].to_vec::<i32>()?, vec![1, 2, 3]);
/// }
/// assert!(rmx::io::npz_from_bytes(b"PK not really").is_err());
/// # Ok::<(), rmx::Error>(())
/// ```
pub fn npz_from_bytes(bytes: &[u8]) -> Result<BTreeMap<String, Array>> {
    zip::read_entries(bytes)?
        .into_iter()
        .map(|(name, content)| {
            let key = name.strip_suffix(".npy").unwrap_or(&name).to_string();
            let array =
                npy::npy_from_bytes(&content).map_err(|e| Error::Format { format: "npz", detail: format!("entry '{name}': {e}") })?;
            Ok((key, array))
        })
        .collect()
}

/// The `.npz` bytes of named arrays, deflated when `compressed`.
pub fn npz_to_bytes(arrays: &BTreeMap<String, Array>, compressed: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_npz(&mut out, arrays, compressed)?;
    Ok(out)
}

fn write_npz(out: &mut impl std::io::Write, arrays: &BTreeMap<String, Array>, compressed: bool) -> Result<()> {
    let entries = arrays.iter().map(|(name, a)| Ok((format!("{name}.npy"), npy::npy_to_bytes(a)?)));
    zip::write_archive(out, entries, compressed)
}

/// Reads an `.npz` file.
pub fn load_npz(path: impl AsRef<Path>) -> Result<BTreeMap<String, Array>> {
    let path = path.as_ref();
    npz_from_bytes(&std::fs::read(path).map_err(|e| io_error(path, e))?)
}

/// Writes named arrays as an uncompressed `.npz` file (NumPy's `savez`).
pub fn savez(path: impl AsRef<Path>, arrays: &BTreeMap<String, Array>) -> Result<()> {
    super::write_atomically(path.as_ref(), |w| write_npz(w, arrays, false))
}

/// Writes named arrays as a deflated `.npz` file (NumPy's `savez_compressed`).
pub fn savez_compressed(path: impl AsRef<Path>, arrays: &BTreeMap<String, Array>) -> Result<()> {
    super::write_atomically(path.as_ref(), |w| write_npz(w, arrays, true))
}
