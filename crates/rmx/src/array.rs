//! [`Array`]: a cheap, shareable handle to a node of the lazy graph.
//!
//! A node knows its shape and dtype from the moment it is built. Until it is evaluated it
//! also holds the primitive that computes it and that primitive's inputs; evaluation stores
//! a [`Storage`] and drops the primitive and inputs ("detaches"), which frees the
//! intermediates of the graph. Multi-output primitives (divmod, svd...) give each output a
//! node; the nodes know their siblings through weak references, so there are no reference
//! cycles. Dropping a long chain of nodes is iterative, not recursive.

use crate::device::Stream;
use crate::dtype::Dtype;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::memory::Buffer;
use crate::primitive::Primitive;
use crate::shape::{checked_numel, numel};
use crate::storage::Storage;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// An n-dimensional array: lazy, immutable, cheap to clone.
///
/// ```
/// use rmx::Array;
/// let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
/// let b = rmx::add(&a, &a).unwrap();        // builds a node, computes nothing
/// assert_eq!(b.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0]); // evaluates
/// ```
#[derive(Clone)]
pub struct Array {
    pub(crate) node: Arc<Node>,
}

pub(crate) struct Node {
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: Dtype,
    pub(crate) state: Mutex<NodeState>,
}

/// Shape and dtype of one output of a primitive, with a weak handle to its node.
pub(crate) struct Sibling {
    pub(crate) node: Weak<Node>,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: Dtype,
}

pub(crate) struct NodeState {
    pub(crate) primitive: Option<Arc<dyn Primitive>>,
    pub(crate) inputs: Vec<Array>,
    /// All outputs of the primitive, this node included (empty for single-output nodes).
    pub(crate) siblings: Arc<[Sibling]>,
    pub(crate) stream: Stream,
    pub(crate) storage: Option<Storage>,
    /// Set while another thread's evaluation owns this node (its primitive is taken and its
    /// storage not yet stored); evaluations that meet it wait instead of failing.
    pub(crate) in_flight: bool,
}

impl Drop for Node {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mut stack = std::mem::take(&mut state.inputs);
        while let Some(array) = stack.pop() {
            if let Some(mut node) = Arc::into_inner(array.node) {
                let inner = node.state.get_mut().unwrap_or_else(|e| e.into_inner());
                stack.append(&mut inner.inputs);
            }
        }
    }
}

impl Array {
    fn from_node(shape: Vec<usize>, dtype: Dtype, state: NodeState) -> Array {
        Array { node: Arc::new(Node { shape, dtype, state: Mutex::new(state) }) }
    }

    /// A node computed by `primitive` from `inputs` (nothing runs until eval).
    pub(crate) fn from_primitive(shape: Vec<usize>, dtype: Dtype, primitive: Arc<dyn Primitive>, inputs: Vec<Array>) -> Array {
        let stream = crate::device::current_stream();
        Array::from_node(
            shape,
            dtype,
            NodeState { primitive: Some(primitive), inputs, siblings: Arc::new([]), stream, storage: None, in_flight: false },
        )
    }

    /// The outputs of a multi-output primitive, one node each.
    pub(crate) fn multi_from_primitive(outputs: Vec<(Vec<usize>, Dtype)>, primitive: Arc<dyn Primitive>, inputs: Vec<Array>) -> Vec<Array> {
        let stream = crate::device::current_stream();
        let mut arrays: Vec<Array> = Vec::with_capacity(outputs.len());
        let nodes: Vec<Arc<Node>> = outputs
            .into_iter()
            .map(|(shape, dtype)| {
                let state = NodeState {
                    primitive: Some(Arc::clone(&primitive)),
                    inputs: inputs.clone(),
                    siblings: Arc::new([]),
                    stream,
                    storage: None,
                    in_flight: false,
                };
                Arc::new(Node { shape, dtype, state: Mutex::new(state) })
            })
            .collect();
        let siblings: Arc<[Sibling]> =
            nodes.iter().map(|n| Sibling { node: Arc::downgrade(n), shape: n.shape.clone(), dtype: n.dtype }).collect();
        for node in nodes {
            node.lock().siblings = Arc::clone(&siblings);
            arrays.push(Array { node });
        }
        arrays
    }

    /// The outputs of `primitive`: one node, or one per output with sibling links.
    pub(crate) fn outputs_from_primitive(
        outputs: Vec<(Vec<usize>, Dtype)>,
        primitive: Arc<dyn Primitive>,
        inputs: Vec<Array>,
    ) -> Vec<Array> {
        if let [(shape, dtype)] = outputs.as_slice() {
            vec![Array::from_primitive(shape.clone(), *dtype, primitive, inputs)]
        } else {
            Array::multi_from_primitive(outputs, primitive, inputs)
        }
    }

    /// An evaluated array over existing storage.
    pub(crate) fn from_storage(shape: Vec<usize>, dtype: Dtype, storage: Storage) -> Array {
        let stream = crate::device::current_stream();
        Array::from_node(
            shape,
            dtype,
            NodeState { primitive: None, inputs: Vec::new(), siblings: Arc::new([]), stream, storage: Some(storage), in_flight: false },
        )
    }

    /// An array holding a copy of `data` with the given shape.
    ///
    /// ```
    /// let a = rmx::Array::from_slice(&[1i32, 2, 3], &[3]).unwrap();
    /// assert_eq!(a.dtype(), rmx::Dtype::I32);
    /// assert!(rmx::Array::from_slice(&[1i32, 2, 3], &[2, 2]).is_err());
    /// ```
    pub fn from_slice<T: Element>(data: &[T], shape: &[usize]) -> Result<Array> {
        let n = checked_numel("array", shape)?;
        if n != data.len() {
            return Err(Error::arg("array", format!("{} elements do not fill shape {shape:?}", data.len())));
        }
        let buffer = Buffer::allocate(std::mem::size_of_val(data))?;
        // SAFETY: the buffer is fresh, aligned and holds exactly `data.len()` elements.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buffer.as_ptr() as *mut T, data.len()) };
        Ok(Array::from_storage(shape.to_vec(), T::DTYPE, Storage::row_major(buffer, shape)))
    }

    /// A 1-d array from a vector.
    pub fn from_vec<T: Element>(data: Vec<T>) -> Array {
        let n = data.len();
        Array::from_slice(&data, &[n]).expect("a vector always fills its own length")
    }

    /// A 0-d array holding `value`.
    ///
    /// ```
    /// let x = rmx::Array::scalar(2.5f32);
    /// assert_eq!(x.ndim(), 0);
    /// assert_eq!(x.item::<f32>().unwrap(), 2.5);
    /// ```
    pub fn scalar<T: Element>(value: T) -> Array {
        Array::from_slice(&[value], &[]).expect("a scalar always fits")
    }

    /// An array from raw little-endian bytes of `dtype`.
    pub fn from_bytes(bytes: &[u8], shape: &[usize], dtype: Dtype) -> Result<Array> {
        let n = checked_numel("from_bytes", shape)?;
        if n * dtype.size() != bytes.len() {
            return Err(Error::arg("from_bytes", format!("{} bytes do not fill shape {shape:?} of {dtype}", bytes.len())));
        }
        let buffer = Buffer::allocate(bytes.len())?;
        // SAFETY: the buffer is fresh and exactly `bytes.len()` long.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer.as_ptr(), bytes.len()) };
        if dtype == Dtype::Bool {
            // SAFETY: in bounds; normalises every byte to 0 or 1 so it is a valid `bool`.
            unsafe {
                for i in 0..n {
                    let p = buffer.as_ptr().add(i);
                    *p = (*p != 0) as u8;
                }
            }
        }
        Ok(Array::from_storage(shape.to_vec(), dtype, Storage::row_major(buffer, shape)))
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.node.shape
    }

    /// Size of one dimension (negative counts from the end).
    pub fn dim(&self, axis: isize) -> Result<usize> {
        Ok(self.shape()[crate::shape::normalize_axis("dim", axis, self.ndim())?])
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.node.shape.len()
    }

    /// Number of elements.
    pub fn size(&self) -> usize {
        numel(&self.node.shape)
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.node.dtype
    }

    /// Bytes per element.
    pub fn itemsize(&self) -> usize {
        self.node.dtype.size()
    }

    /// Bytes of all elements.
    pub fn nbytes(&self) -> usize {
        self.size() * self.itemsize()
    }

    /// The stream the array's primitive runs on.
    pub fn stream(&self) -> Stream {
        self.node.lock().stream
    }

    /// A process-unique identity of this node (equal for clones of one handle).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.node) as usize
    }

    /// True once the data is computed.
    pub fn is_evaluated(&self) -> bool {
        self.node.lock().storage.is_some()
    }

    /// Computes this array (and whatever it depends on).
    pub fn eval(&self) -> Result<()> {
        crate::eval::eval(std::slice::from_ref(self))
    }

    /// The evaluated storage; evaluates first if needed.
    pub(crate) fn storage(&self) -> Result<Storage> {
        if let Some(s) = &self.node.lock().storage {
            return Ok(s.clone());
        }
        self.eval()?;
        self.node.lock().storage.clone().ok_or_else(|| Error::Eval("array has no data after eval".into()))
    }

    /// Takes the storage out of a node nobody else references (buffer donation).
    pub(crate) fn take_storage_if_unique(&self) -> Option<Storage> {
        if Arc::strong_count(&self.node) != 1 {
            return None;
        }
        let mut state = self.node.lock();
        match &state.storage {
            Some(s) if s.is_donatable() => state.storage.take(),
            _ => None,
        }
    }

    /// The primitive and inputs that compute this node, while the graph is attached.
    pub(crate) fn graph(&self) -> Option<(Arc<dyn Primitive>, Vec<Array>)> {
        let state = self.node.lock();
        state.primitive.as_ref().map(|p| (Arc::clone(p), state.inputs.clone()))
    }

    /// Every output of this node's primitive in order (`None` where a sibling was dropped);
    /// just this array for single-output primitives.
    pub(crate) fn outputs_of_primitive(&self) -> Vec<Option<Array>> {
        let siblings = Arc::clone(&self.node.lock().siblings);
        if siblings.is_empty() {
            return vec![Some(self.clone())];
        }
        siblings.iter().map(|s| s.node.upgrade().map(|node| Array { node })).collect()
    }

    /// `siblings` (this node's [`Array::outputs_of_primitive`]) with every output the program
    /// dropped standing in as a lazy recomputation of the application (evaluated only if read).
    pub(crate) fn outputs_or_recomputed(&self, siblings: &[Option<Array>]) -> Vec<Array> {
        match self.graph() {
            Some((primitive, inputs)) if siblings.iter().any(Option::is_none) => {
                let fresh = Array::multi_from_primitive(self.sibling_specs(), primitive, inputs);
                siblings.iter().zip(fresh).map(|(s, f)| s.clone().unwrap_or(f)).collect()
            }
            _ => siblings.iter().map(|s| s.clone().unwrap_or_else(|| self.clone())).collect(),
        }
    }

    /// Identity of the primitive application that computes this node: shared by the outputs
    /// of one multi-output application, distinct between applications (even of one primitive).
    pub(crate) fn application_key(&self) -> *const () {
        let siblings = Arc::clone(&self.node.lock().siblings);
        if siblings.is_empty() {
            Arc::as_ptr(&self.node) as *const ()
        } else {
            Arc::as_ptr(&siblings) as *const Sibling as *const ()
        }
    }

    /// Shape and dtype of every output of this node's primitive.
    pub(crate) fn sibling_specs(&self) -> Vec<(Vec<usize>, Dtype)> {
        let siblings = Arc::clone(&self.node.lock().siblings);
        if siblings.is_empty() {
            return vec![(self.shape().to_vec(), self.dtype())];
        }
        siblings.iter().map(|s| (s.shape.clone(), s.dtype)).collect()
    }

    /// Stores the computed data; this also ends the node's in-flight state.
    pub(crate) fn set_storage(&self, storage: Storage) {
        let mut state = self.node.lock();
        state.storage = Some(storage);
        state.in_flight = false;
    }

    /// Copies the elements out in row-major order; `T` must match the dtype.
    ///
    /// ```
    /// let a = rmx::arange(0.0, 4.0, 1.0, rmx::Dtype::F32).unwrap();
    /// let t = rmx::transpose(&rmx::reshape(&a, &[2, 2]).unwrap(), None).unwrap();
    /// assert_eq!(t.to_vec::<f32>().unwrap(), vec![0.0, 2.0, 1.0, 3.0]);
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype() {
            return Err(Error::dtype_detail("to_vec", self.dtype(), format!("requested as {}", T::DTYPE)));
        }
        let storage = self.storage()?;
        Ok(crate::backend::cpu::copy::gather_to_vec::<T>(&storage, self.shape()))
    }

    /// The single element of a size-1 array.
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.size() != 1 {
            return Err(Error::arg("item", format!("array of shape {:?} has {} elements, not 1", self.shape(), self.size())));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// The row-major bytes of the array.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        crate::dispatch_dtype!(self.dtype(), T => {
            Ok(as_bytes(&self.to_vec::<T>()?).to_vec())
        })
    }
}

/// The bytes of a slice of elements.
fn as_bytes<T: Element>(v: &[T]) -> &[u8] {
    // SAFETY: every element type is plain old data without padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

impl Node {
    pub(crate) fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Array(shape={:?}, dtype={}", self.shape(), self.dtype())?;
        if self.size() <= 16 && self.is_evaluated() {
            crate::dispatch_dtype!(self.dtype(), T => {
                if let Ok(v) = self.to_vec::<T>() {
                    write!(f, ", data={v:?}")?;
                }
            });
        }
        f.write_str(")")
    }
}

/// A detached, unevaluated node standing in for a dropped sibling output.
pub(crate) fn placeholder(shape: Vec<usize>, dtype: Dtype) -> Array {
    let stream = crate::device::current_stream();
    Array::from_node(
        shape,
        dtype,
        NodeState { primitive: None, inputs: Vec::new(), siblings: Arc::new([]), stream, storage: None, in_flight: false },
    )
}
