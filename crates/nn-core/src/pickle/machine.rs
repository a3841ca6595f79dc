//! The pickle machine: a stack, a memo and the opcodes of protocols 2 to 5 that pickles of
//! NumPy arrays and dicts use (as Python's `pickletools` documents them). Every length is
//! checked against the bytes left before anything is read or allocated for it, and every call
//! goes through [`call`], which knows a handful of globals.

use std::collections::HashMap;
use std::rc::Rc;

use super::PickleError;
use super::calls::{build, call};
use super::opcodes::*;
use super::value::{Entries, Global, MAX_DEPTH, Seq, Value};

/// Items that changing shared containers may copy, over the whole file. Real pickles copy
/// none but an empty dict; without a bound, fetching a long list from the memo and appending to
/// it again and again would copy it each time.
const MAX_COPIED_ITEMS: usize = 1 << 20;

/// The value a pickle of protocol 2 to 5 holds, read to its `STOP`, which must end the input.
pub(super) fn load(input: &[u8]) -> Result<Value, PickleError> {
    match *input {
        [PROTO, 2..=5, ..] => {}
        [PROTO, protocol, ..] => return Err(PickleError::Protocol { protocol }),
        [] | [PROTO] => return Err(PickleError::Truncated { offset: 0, opcode: "PROTO" }),
        [first, ..] => return Err(PickleError::NotAPickle { first }),
    }
    let mut machine = Machine {
        input,
        pos: 2,
        at: 0,
        opcode: PROTO,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    };
    loop {
        machine.at = machine.pos;
        let Some(&opcode) = input.get(machine.pos) else {
            return Err(PickleError::NoStop { offset: input.len() });
        };
        machine.pos += 1;
        machine.opcode = opcode;
        if opcode == STOP {
            let value = machine.pop()?;
            if machine.pos < input.len() {
                return Err(PickleError::TrailingBytes { stop: machine.at, count: input.len() - machine.pos });
            }
            return Ok(value);
        }
        machine.step(opcode)?;
    }
}

struct Machine<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// Where the opcode being run starts.
    at: usize,
    opcode: u8,
    stack: Vec<Value>,
    /// The stack's length at each `MARK` not yet popped: no opcode reaches below the last one.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Items copied so far by changing shared containers.
    copied: usize,
}

impl<'a> Machine<'a> {
    /// Runs one opcode other than `STOP`.
    fn step(&mut self, opcode: u8) -> Result<(), PickleError> {
        match opcode {
            FRAME => {
                // A frame only tells a reader how much to buffer; it must fit the input.
                let len = self.uint(8)?;
                if len > (self.input.len() - self.pos) as u64 {
                    return Err(self.truncated());
                }
            }
            MARK => self.marks.push(self.stack.len()),
            POP => drop(self.pop()?),
            POP_MARK => drop(self.pop_mark()?),
            NONE => self.stack.push(Value::None),
            NEWTRUE => self.stack.push(Value::Bool(true)),
            NEWFALSE => self.stack.push(Value::Bool(false)),
            BININT1 => {
                let n = self.uint(1)?;
                self.stack.push(Value::Int(n as i64));
            }
            BININT2 => {
                let n = self.uint(2)?;
                self.stack.push(Value::Int(n as i64));
            }
            BININT => {
                let n = self.uint(4)? as u32 as i32;
                self.stack.push(Value::Int(i64::from(n)));
            }
            LONG1 => {
                let len = self.uint(1)?;
                let bytes = self.take(len)?;
                self.stack.push(long(bytes));
            }
            BINFLOAT => {
                self.take(8)?;
                self.stack.push(Value::Float);
            }
            SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                let len = self.uint(length_bytes(opcode))?;
                let text = std::str::from_utf8(self.take(len)?).map_err(|_| self.invalid("text that is not UTF-8"))?;
                self.stack.push(Value::Str(Rc::from(text)));
            }
            SHORT_BINBYTES | BINBYTES | BINBYTES8 | BYTEARRAY8 | SHORT_BINSTRING => {
                let len = self.uint(length_bytes(opcode))?;
                let bytes = self.take(len)?;
                self.stack.push(Value::Bytes(Rc::from(bytes)));
            }
            BINSTRING => {
                let len = self.uint(4)? as u32 as i32;
                let len = u64::try_from(len).map_err(|_| self.invalid("a negative length"))?;
                let bytes = self.take(len)?;
                self.stack.push(Value::Bytes(Rc::from(bytes)));
            }
            EMPTY_TUPLE => self.stack.push(Value::Tuple(Rc::default())),
            TUPLE1 | TUPLE2 | TUPLE3 => {
                let n = usize::from(opcode - TUPLE1 + 1);
                if self.stack.len() < self.floor() + n {
                    return Err(self.invalid("it takes more items than the stack holds above its last MARK"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push_tuple(items)?;
            }
            TUPLE => {
                let items = self.pop_mark()?;
                self.push_tuple(items)?;
            }
            EMPTY_LIST => self.stack.push(Value::List(Rc::default())),
            EMPTY_DICT => self.stack.push(Value::Dict(Rc::default())),
            APPEND => {
                let item = self.pop()?;
                self.append(vec![item])?;
            }
            APPENDS => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.set_items(vec![key, value])?;
            }
            SETITEMS => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            BINPUT | LONG_BINPUT => {
                let index = self.uint(if opcode == BINPUT { 1 } else { 4 })? as u32;
                let top = self.top()?.clone();
                self.memo.insert(index, top);
            }
            MEMOIZE => {
                let top = self.top()?.clone();
                // The memo holds at most one entry per opcode run, so its length fits 32 bits
                // for any input this machine can be given whole.
                let index = u32::try_from(self.memo.len()).map_err(|_| self.invalid("a memo of 2^32 entries"))?;
                self.memo.insert(index, top);
            }
            BINGET | LONG_BINGET => {
                let index = self.uint(if opcode == BINGET { 1 } else { 4 })? as u32;
                let value = self.memo.get(&index).cloned();
                let value = value.ok_or_else(|| self.invalid(&format!("the memo has no entry {index}")))?;
                self.stack.push(value);
            }
            GLOBAL => {
                let module = self.line()?;
                let name = self.line()?;
                self.push_global(module, name)?;
            }
            STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    return Err(self.invalid("it takes a module and a name, both str"));
                };
                self.push_global(&module, &name)?;
            }
            REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let (Value::Global(global), Value::Tuple(args)) = (&callable, &args) else {
                    let found = format!("{} called with {}", callable.kind(), args.kind());
                    return Err(self.invalid(&format!("it calls a global with a tuple, not {found}")));
                };
                let value = call(*global, &args.items).map_err(|detail| self.invalid(&detail))?;
                self.stack.push(value);
            }
            BUILD => {
                let state = self.pop()?;
                build(self.top()?, &state).map_err(|detail| self.invalid(&detail))?;
            }
            PROTO => return Err(self.invalid("PROTO comes only first")),
            _ => return Err(PickleError::Opcode { opcode, offset: self.at }),
        }
        Ok(())
    }

    /// The lowest stack index the current opcode may reach: above the last `MARK`.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.invalid("the stack is empty"));
        }
        self.stack.pop().ok_or_else(|| self.invalid("the stack is empty"))
    }

    fn top(&self) -> Result<&Value, PickleError> {
        match self.stack.last() {
            Some(top) if self.stack.len() > self.floor() => Ok(top),
            _ => Err(self.invalid("the stack is empty")),
        }
    }

    /// The items above the last `MARK`, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.invalid("no MARK comes before it"))?;
        Ok(self.stack.split_off(mark))
    }

    fn push_tuple(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let tuple = Value::tuple(items).ok_or_else(|| self.too_deep())?;
        self.stack.push(tuple);
        Ok(())
    }

    fn push_global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let global = Global::find(module, name)
            .ok_or_else(|| PickleError::RefusedGlobal { module: module.to_string(), name: name.to_string() })?;
        self.stack.push(Value::Global(global));
        Ok(())
    }

    /// Appends `items` to the list on top of the stack.
    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        let (too_deep, not_a_list) = (self.too_deep(), self.invalid("it appends to something that is not a list"));
        let (offset, opcode) = (self.at, opcode_name(self.opcode));
        let copying = move |detail| PickleError::Invalid { offset, opcode, detail };
        let copied = &mut self.copied;
        let Some(Value::List(list)) = self.stack.last_mut() else { return Err(not_a_list) };
        let list = unshare(list, copied).map_err(copying)?;
        list.depth = list.depth.max(depth);
        if list.depth > MAX_DEPTH {
            return Err(too_deep);
        }
        list.items.extend(items);
        Ok(())
    }

    /// Sets the `items` (key, value, key, value...) in the dict on top of the stack.
    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.invalid("it sets a key without a value"));
        }
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        let (too_deep, not_a_dict) = (self.too_deep(), self.invalid("it sets items in something that is not a dict"));
        let (offset, opcode) = (self.at, opcode_name(self.opcode));
        let copying = move |detail| PickleError::Invalid { offset, opcode, detail };
        let copied = &mut self.copied;
        let Some(Value::Dict(dict)) = self.stack.last_mut() else { return Err(not_a_dict) };
        let dict = unshare(dict, copied).map_err(copying)?;
        dict.depth = dict.depth.max(depth);
        if dict.depth > MAX_DEPTH {
            return Err(too_deep);
        }
        let mut items = items.into_iter();
        while let (Some(key), Some(value)) = (items.next(), items.next()) {
            dict.items.push((key, value));
        }
        Ok(())
    }

    /// The next `bytes` bytes (1 to 8) as a little-endian unsigned integer.
    fn uint(&mut self, bytes: u64) -> Result<u64, PickleError> {
        let read = self.take(bytes)?;
        Ok(read.iter().rev().fold(0_u64, |n, &b| (n << 8) | u64::from(b)))
    }

    /// The next `len` bytes, if the input holds them.
    fn take(&mut self, len: u64) -> Result<&'a [u8], PickleError> {
        let input = self.input;
        if len > (input.len() - self.pos) as u64 {
            return Err(self.truncated());
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&input[start..self.pos])
    }

    /// The text up to the next newline (`GLOBAL`'s module and name), which is skipped.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.input[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.truncated())?;
        self.pos += len + 1;
        std::str::from_utf8(&rest[..len]).map_err(|_| self.invalid("a name that is not UTF-8"))
    }

    fn truncated(&self) -> PickleError {
        PickleError::Truncated { offset: self.at, opcode: opcode_name(self.opcode) }
    }

    fn invalid(&self, detail: &str) -> PickleError {
        PickleError::Invalid { offset: self.at, opcode: opcode_name(self.opcode), detail: detail.to_string() }
    }

    fn too_deep(&self) -> PickleError {
        self.invalid(&format!("it nests tuples, lists and dicts more than {MAX_DEPTH} deep"))
    }
}

/// `LONG1`'s little-endian two's complement integer.
fn long(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt;
    }
    let negative = bytes.last().is_some_and(|&b| b >= 0x80);
    let mut padded = [if negative { 0xff } else { 0 }; 8];
    padded[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(padded))
}

/// The container behind `rc`, copied first if it is shared, counting the items copied against
/// [`MAX_COPIED_ITEMS`].
fn unshare<'r, T: Clone + Items>(rc: &'r mut Rc<T>, copied: &mut usize) -> Result<&'r mut T, String> {
    if Rc::strong_count(rc) > 1 {
        *copied = copied.saturating_add(rc.len());
        if *copied > MAX_COPIED_ITEMS {
            return Err(format!(
                "changing containers fetched from the memo would copy more than {MAX_COPIED_ITEMS} items"
            ));
        }
    }
    Ok(Rc::make_mut(rc))
}

/// How many items a container holds.
trait Items {
    fn len(&self) -> usize;
}

impl Items for Seq {
    fn len(&self) -> usize {
        self.items.len()
    }
}

impl Items for Entries {
    fn len(&self) -> usize {
        self.items.len()
    }
}
