//! What the pickle machine holds on its stack and in its memo, and the few calls it may make:
//! the globals that rebuild NumPy arrays and their dtypes, a dict, bytes. Nothing here runs code
//! from the file; a call is a match over [`Global`].

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use crate::npz_error::tuple;

/// The deepest a pickle may nest tuples, lists and dicts: an array's state needs three levels;
/// a limit keeps dropping a nested value from recursing without end.
pub(super) const MAX_DEPTH: usize = 32;

/// One value of the machine. Containers are shared by `Rc` and copied when changed while
/// shared, so a memo entry keeps what a container held when it was memoized (NumPy's pickles
/// never fetch back a container they are still filling). Dtypes and arrays are shared cells, as
/// Python shares objects: `BUILD` on a dtype reaches every copy fetched from the memo.
#[derive(Clone)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits: kept only to be refused where a size is needed.
    BigInt,
    /// A float, whose value no array needs.
    Float,
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<Seq>),
    List(Rc<Seq>),
    Dict(Rc<Entries>),
    Global(Global),
    Dtype(Rc<Cell<Dtype>>),
    /// An array: empty from `_reconstruct` until `BUILD` gives it a state.
    Array(Rc<Cell<Option<Rc<NdArray>>>>),
}

/// The items of a tuple or a list, with how deep they nest.
#[derive(Clone, Default)]
pub(super) struct Seq {
    pub(super) items: Vec<Value>,
    pub(super) depth: usize,
}

/// The items of a dict in the order they were set (a later one for the same key wins).
#[derive(Clone, Default)]
pub(super) struct Entries {
    pub(super) items: Vec<(Value, Value)>,
    pub(super) depth: usize,
}

impl Value {
    /// How deep containers nest inside this value, 0 for any other value.
    pub(super) fn depth(&self) -> usize {
        match self {
            Value::Tuple(seq) | Value::List(seq) => seq.depth,
            Value::Dict(entries) => entries.depth,
            _ => 0,
        }
    }

    /// A tuple of `items`, or `None` if it would nest deeper than [`MAX_DEPTH`].
    pub(super) fn tuple(items: Vec<Value>) -> Option<Value> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        (depth <= MAX_DEPTH).then(|| Value::Tuple(Rc::new(Seq { items, depth })))
    }

    /// What the value is, for messages: "a tuple", "an int".
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) | Value::BigInt => "an int",
            Value::Float => "a float",
            Value::Str(_) => "a str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a class or function",
            Value::Dtype(_) => "a dtype",
            Value::Array(_) => "an array",
        }
    }
}

/// The globals a pickle of NumPy arrays needs, and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Global {
    /// `numpy.core.multiarray._reconstruct` (NumPy 1) or `numpy._core.multiarray._reconstruct`
    /// (NumPy 2): an empty array that `BUILD` fills.
    Reconstruct,
    /// `numpy.ndarray`, the class `_reconstruct` is given.
    NdArray,
    /// `numpy.dtype`.
    Dtype,
    /// `numpy.core.numeric._frombuffer` or `numpy._core.numeric._frombuffer`: an array from its
    /// bytes, dtype, shape and order, as NumPy writes contiguous arrays under protocol 5.
    FromBuffer,
    /// `collections.OrderedDict`, called with no arguments.
    OrderedDict,
    /// `_codecs.encode(text, 'latin1')`: how protocol 2 stores an array's bytes.
    Encode,
    /// `__builtin__.bytes()`, with no arguments: how protocol 2 stores an empty array's bytes.
    Bytes,
}

impl Global {
    /// The global a pickle names, if it is one of ours.
    pub(super) fn find(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => Global::Reconstruct,
            ("numpy", "ndarray") => Global::NdArray,
            ("numpy", "dtype") => Global::Dtype,
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Global::FromBuffer,
            ("collections", "OrderedDict") => Global::OrderedDict,
            ("_codecs", "encode") => Global::Encode,
            ("__builtin__" | "builtins", "bytes") => Global::Bytes,
            _ => return None,
        })
    }
}

/// What an element of an array is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Float,
    Int,
    UInt,
    Bool,
}

/// A NumPy dtype of numbers: kind, size in bytes and byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Dtype {
    pub(super) kind: Kind,
    pub(super) size: u8,
    pub(super) big_endian: bool,
}

impl Dtype {
    /// The dtype of NumPy's type string (`f4`, `<f8`, `>i2`, `u1`, `b1`), little-endian unless it
    /// says otherwise; `None` for what is not a plain number type (`U3`, `V4`, `O8`, `c8`).
    pub(super) fn parse(text: &str) -> Option<Dtype> {
        let (big_endian, rest) = match text.as_bytes().first()? {
            b'>' => (true, &text[1..]),
            b'<' | b'|' | b'=' => (false, &text[1..]),
            _ => (false, text),
        };
        let kind = match rest.as_bytes().first()? {
            b'f' => Kind::Float,
            b'i' => Kind::Int,
            b'u' => Kind::UInt,
            b'b' => Kind::Bool,
            _ => return None,
        };
        let size: u8 = rest[1..].parse().ok()?;
        let fits = match kind {
            Kind::Float => matches!(size, 2 | 4 | 8),
            Kind::Int | Kind::UInt => matches!(size, 1 | 2 | 4 | 8),
            Kind::Bool => size == 1,
        };
        fits.then_some(Dtype { kind, size, big_endian })
    }
}

impl fmt::Display for Dtype {
    /// NumPy's `dtype.str`: `<f4`, `>f8`, `|u1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match (self.size, self.big_endian) {
            (1, _) => '|',
            (_, true) => '>',
            (_, false) => '<',
        };
        let kind = match self.kind {
            Kind::Float => 'f',
            Kind::Int => 'i',
            Kind::UInt => 'u',
            Kind::Bool => 'b',
        };
        write!(f, "{order}{kind}{}", self.size)
    }
}

/// An array as NumPy pickles it: its bytes are exactly its shape's values of its dtype.
#[derive(Debug, PartialEq)]
pub(super) struct NdArray {
    pub(super) shape: Vec<u64>,
    pub(super) dtype: Dtype,
    /// Fortran order: the first index varies fastest in `data`.
    pub(super) fortran: bool,
    pub(super) data: Rc<[u8]>,
}

impl NdArray {
    /// The array, if `data` holds exactly the bytes of `shape` (checked without overflow);
    /// otherwise why not.
    pub(super) fn new(shape: Vec<u64>, dtype: Dtype, fortran: bool, data: Rc<[u8]>) -> Result<NdArray, String> {
        let needed = shape.iter().try_fold(u64::from(dtype.size), |bytes, &d| bytes.checked_mul(d));
        let shown = format!("an array of shape {} and dtype {dtype}", tuple(&shape));
        match needed {
            Some(n) if n == data.len() as u64 => Ok(NdArray { shape, dtype, fortran, data }),
            Some(n) => Err(format!("{shown} needs {n} bytes but is given {}", data.len())),
            None => Err(format!("{shown} needs more bytes than 64 bits count")),
        }
    }

    /// The element count of the shape (it fits 64 bits, since its bytes did in [`NdArray::new`]).
    pub(super) fn count(&self) -> u64 {
        self.shape.iter().try_fold(1_u64, |n, &d| n.checked_mul(d)).unwrap_or(u64::MAX)
    }
}
