//! The subset of the ZIP container that `.npz` files use: stored and deflated entries,
//! read through the central directory (so local headers with streaming placeholders or
//! zip64 extras, as NumPy writes them, are handled), written with CRC-32 and, when an
//! entry or the archive passes 4 GiB, zip64 records.

use crate::error::{Error, Result};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const END64_LOCATOR: u32 = 0x0706_4b50;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

fn bad(detail: impl Into<String>) -> Error {
    Error::Format { format: "npz", detail: detail.into() }
}

/// CRC-32 (IEEE, reflected), as ZIP stores it.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE
        .get_or_init(|| std::array::from_fn(|i| (0..8).fold(i as u32, |c, _| if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 })));
    !data.iter().fold(!0u32, |c, &b| table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8))
}

/// Little-endian reads with bounds checks.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let s = self
            .bytes
            .get(self.pos..self.pos.checked_add(n).ok_or_else(|| bad("offset overflows"))?)
            .ok_or_else(|| bad("truncated archive"))?;
        self.pos += n;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

fn to_usize(v: u64) -> Result<usize> {
    usize::try_from(v).map_err(|_| bad("size does not fit in memory"))
}

/// Every entry of an archive: (name, uncompressed bytes), CRCs verified.
pub(crate) fn read_entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    if bytes.len() < 22 {
        return Err(bad(format!("{} bytes is too short for a zip archive", bytes.len())));
    }
    // The end record sits in the last 22 + 65535 (comment) bytes.
    let search_from = bytes.len().saturating_sub(22 + 0xFFFF);
    let end = (search_from..=bytes.len() - 22)
        .rev()
        .find(|&i| bytes[i..i + 4] == END.to_le_bytes())
        .ok_or_else(|| bad("no end-of-central-directory record (not a zip archive)"))?;
    let mut r = Reader { bytes, pos: end + 10 };
    let mut count = r.u16()? as u64;
    r.u32()?;
    let mut dir_offset = r.u32()? as u64;
    if (count == 0xFFFF || dir_offset == 0xFFFF_FFFF) && end >= 20 {
        let mut loc = Reader { bytes, pos: end - 20 };
        if loc.u32()? == END64_LOCATOR {
            loc.u32()?;
            let mut e64 = Reader { bytes, pos: to_usize(loc.u64()?)? };
            if e64.u32()? != END64 {
                return Err(bad("bad zip64 end record"));
            }
            e64.take(20)?;
            count = e64.u64()?;
            e64.u64()?;
            dir_offset = e64.u64()?;
        }
    }
    let mut dir = Reader { bytes, pos: to_usize(dir_offset)? };
    let mut entries = Vec::new();
    for _ in 0..count {
        if dir.u32()? != CENTRAL {
            return Err(bad("bad central directory entry"));
        }
        dir.take(4)?;
        let flags = dir.u16()?;
        let method = dir.u16()?;
        dir.take(4)?;
        let crc = dir.u32()?;
        let mut compressed = dir.u32()? as u64;
        let mut size = dir.u32()? as u64;
        let (name_len, extra_len, comment_len) = (dir.u16()? as usize, dir.u16()? as usize, dir.u16()? as usize);
        dir.take(8)?;
        let mut local = dir.u32()? as u64;
        let name = String::from_utf8(dir.take(name_len)?.to_vec()).map_err(|_| bad("entry name is not UTF-8"))?;
        let mut extra = Reader { bytes: dir.take(extra_len)?, pos: 0 };
        while extra.pos + 4 <= extra.bytes.len() {
            let (id, len) = (extra.u16()?, extra.u16()? as usize);
            let body = extra.take(len)?;
            if id == 1 {
                // zip64: only the fields whose 32-bit value is saturated, in this order.
                let mut z = Reader { bytes: body, pos: 0 };
                for field in [&mut size, &mut compressed, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        *field = z.u64()?;
                    }
                }
            }
        }
        dir.take(comment_len)?;
        if flags & 1 != 0 {
            return Err(bad(format!("entry '{name}' is encrypted")));
        }
        let mut lh = Reader { bytes, pos: to_usize(local)? };
        if lh.u32()? != LOCAL {
            return Err(bad(format!("entry '{name}': bad local header")));
        }
        lh.take(22)?;
        let skip = lh.u16()? as usize + lh.u16()? as usize;
        lh.take(skip)?;
        let data = lh.take(to_usize(compressed)?)?;
        let size = to_usize(size)?;
        let content = match method {
            STORED => data.to_vec(),
            DEFLATED => miniz_oxide::inflate::decompress_to_vec_with_limit(data, size)
                .map_err(|e| bad(format!("entry '{name}': bad deflate data ({e})")))?,
            m => return Err(bad(format!("entry '{name}': compression method {m} is not supported"))),
        };
        if content.len() != size || crc32(&content) != crc {
            return Err(bad(format!("entry '{name}': size or CRC-32 does not match (corrupt archive)")));
        }
        entries.push((name, content));
    }
    Ok(entries)
}

/// Writes a ZIP archive of `entries`, deflated when `compress`.
pub(crate) fn write_archive(
    out: &mut impl std::io::Write,
    entries: impl IntoIterator<Item = Result<(String, Vec<u8>)>>,
    compress: bool,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Io { path: "<npz writer>".into(), detail: e.to_string() };
    let mut central = Vec::new();
    let mut offset = 0u64;
    let mut count = 0u64;
    let (date, time) = (0x21u16, 0u16); // 1980-01-01 00:00: reproducible archives
    for entry in entries {
        let (name, content) = entry?;
        if name.len() > 0xFFFF {
            return Err(Error::arg("savez", format!("entry name of {} bytes is longer than ZIP allows", name.len())));
        }
        let (crc, size) = (crc32(&content), content.len() as u64);
        let (method, data) = if compress { (DEFLATED, miniz_oxide::deflate::compress_to_vec(&content, 6)) } else { (STORED, content) };
        let csize = data.len() as u64;
        let big = size >= 0xFFFF_FFFF || csize >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF;
        let version: u16 = if big { 45 } else { 20 };
        let sat = |v: u64| if big { 0xFFFF_FFFFu32 } else { v as u32 };
        // Fields shared by the local and central headers, from "version needed" on.
        let common = |extra_len: u16| {
            let mut h = Vec::with_capacity(26);
            h.extend(version.to_le_bytes());
            h.extend([0, 0]); // flags
            h.extend(method.to_le_bytes());
            h.extend(time.to_le_bytes());
            h.extend(date.to_le_bytes());
            h.extend(crc.to_le_bytes());
            h.extend(sat(csize).to_le_bytes());
            h.extend(sat(size).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(extra_len.to_le_bytes());
            h
        };
        let mut local = LOCAL.to_le_bytes().to_vec();
        local.extend(common(if big { 20 } else { 0 }));
        local.extend(name.as_bytes());
        if big {
            local.extend([1, 0, 16, 0]);
            local.extend(size.to_le_bytes());
            local.extend(csize.to_le_bytes());
        }
        central.extend(CENTRAL.to_le_bytes());
        central.extend(version.to_le_bytes()); // version made by
        central.extend(common(if big { 28 } else { 0 }));
        central.extend([0; 10]); // comment length, disk, internal and external attributes
        central.extend(sat(offset).to_le_bytes());
        central.extend(name.as_bytes());
        if big {
            central.extend([1, 0, 24, 0]);
            central.extend(size.to_le_bytes());
            central.extend(csize.to_le_bytes());
            central.extend(offset.to_le_bytes());
        }
        out.write_all(&local).map_err(io)?;
        out.write_all(&data).map_err(io)?;
        offset += (local.len() + data.len()) as u64;
        count += 1;
    }
    let dir_offset = offset;
    let dir_size = central.len() as u64;
    out.write_all(&central).map_err(io)?;
    let big = count >= 0xFFFF || dir_offset >= 0xFFFF_FFFF;
    let mut tail = Vec::new();
    if big {
        tail.extend(END64.to_le_bytes());
        tail.extend(44u64.to_le_bytes());
        tail.extend(45u16.to_le_bytes());
        tail.extend(45u16.to_le_bytes());
        tail.extend([0; 8]);
        tail.extend(count.to_le_bytes());
        tail.extend(count.to_le_bytes());
        tail.extend(dir_size.to_le_bytes());
        tail.extend(dir_offset.to_le_bytes());
        tail.extend(END64_LOCATOR.to_le_bytes());
        tail.extend([0; 4]);
        tail.extend((dir_offset + dir_size).to_le_bytes());
        tail.extend(1u32.to_le_bytes());
    }
    let count16 = if big { 0xFFFF } else { count as u16 };
    tail.extend(END.to_le_bytes());
    tail.extend([0; 4]);
    tail.extend(count16.to_le_bytes());
    tail.extend(count16.to_le_bytes());
    tail.extend((dir_size.min(0xFFFF_FFFF) as u32).to_le_bytes());
    tail.extend((if big { 0xFFFF_FFFF } else { dir_offset as u32 }).to_le_bytes());
    tail.extend([0, 0]);
    out.write_all(&tail).map_err(io)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
