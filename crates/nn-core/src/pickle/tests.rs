//! Pickles built by hand, opcode by opcode, as NumPy 1 and 2 write them under protocols 2 to 5,
//! and hostile ones. (Pickles written by Python itself are read in nn-cli's
//! `tests/pickle_commands.rs`.)

use super::*;
use crate::{Activation, Loss, NnError};

/// A pickle under construction.
struct Pickle(Vec<u8>);

impl Pickle {
    fn new(protocol: u8) -> Pickle {
        Pickle(vec![0x80, protocol])
    }

    fn op(mut self, opcode: u8) -> Pickle {
        self.0.push(opcode);
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Pickle {
        self.0.extend_from_slice(bytes);
        self
    }

    fn int(self, n: i32) -> Pickle {
        match n {
            0..=255 => self.op(b'K').raw(&[n as u8]),
            256..=65535 => self.op(b'M').raw(&(n as u16).to_le_bytes()),
            _ => self.op(b'J').raw(&n.to_le_bytes()),
        }
    }

    fn text(self, text: &str) -> Pickle {
        if text.len() < 256 {
            self.op(0x8c).raw(&[text.len() as u8]).raw(text.as_bytes())
        } else {
            self.op(b'X').raw(&(text.len() as u32).to_le_bytes()).raw(text.as_bytes())
        }
    }

    fn bytes(self, bytes: &[u8]) -> Pickle {
        self.op(b'B').raw(&(bytes.len() as u32).to_le_bytes()).raw(bytes)
    }

    fn global(self, module: &str, name: &str) -> Pickle {
        self.op(b'c').raw(format!("{module}\n{name}\n").as_bytes())
    }

    /// `numpy.dtype(code, False, True)` given its byte order, as `ndarray.__reduce__` writes it.
    fn dtype(self, code: &str, order: &str) -> Pickle {
        let p = self.global("numpy", "dtype").text(code).op(0x89).op(0x88).op(0x87).op(b'R');
        let p = p.op(b'(').int(3).text(order).op(b'N').op(b'N').op(b'N').int(-1).int(-1).int(0).op(b't');
        p.op(b'b')
    }

    fn shape(self, shape: &[i32]) -> Pickle {
        shape.iter().fold(self.op(b'('), |p, &d| p.int(d)).op(b't')
    }

    /// An array as NumPy's `_reconstruct` (from `module`) and `__setstate__` pickle it; the data
    /// stored as protocol 2 does (`_codecs.encode(text, 'latin1')`, with `latin1`) or as bytes.
    fn array(
        self,
        (module, latin1): (&str, bool),
        shape: &[i32],
        code: &str,
        order: &str,
        fortran: bool,
        data: &[u8],
    ) -> Pickle {
        let p = self.global(module, "_reconstruct").global("numpy", "ndarray").int(0).op(0x85);
        let p = p.op(b'C').raw(&[1, b'b']).op(0x87).op(b'R');
        let p = p.op(b'(').int(1).shape(shape).dtype(code, order).op(if fortran { 0x88 } else { 0x89 });
        let p = if latin1 {
            let text: String = data.iter().map(|&b| char::from(b)).collect();
            p.global("_codecs", "encode").text(&text).text("latin1").op(0x86).op(b'R')
        } else {
            p.bytes(data)
        };
        p.op(b't').op(b'b')
    }

    /// An array as NumPy writes a contiguous one under protocol 5: `_frombuffer(buffer, dtype,
    /// shape, order)`.
    fn frombuffer(self, shape: &[i32], code: &str, order: &str, fortran: bool, data: &[u8]) -> Pickle {
        let p = self.text("numpy._core.numeric").text("_frombuffer").op(0x93).op(b'(');
        let p = p.op(0x96).raw(&(data.len() as u64).to_le_bytes()).raw(data);
        let p = p.text("numpy").text("dtype").op(0x93).text(code).op(0x89).op(0x88).op(0x87).op(b'R');
        let p = p.op(b'(').int(3).text(order).op(b'N').op(b'N').op(b'N').int(-1).int(-1).int(0).op(b't').op(b'b');
        p.shape(shape).text(if fortran { "F" } else { "C" }).op(b't').op(b'R')
    }

    fn stop(self) -> Vec<u8> {
        self.op(b'.').0
    }
}

fn f32_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_be(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// `{'W1': 2x3 float32, 'b1': (3,) big-endian float64, 'W2': 3x2 float32 in Fortran order,
/// 'b2': (1, 2) float32}` as NumPy 1 (`numpy.core`) or 2 writes it under protocol 2 or 3.
fn small_dict(protocol: u8, module: &str) -> Vec<u8> {
    let latin1 = protocol == 2;
    let p = Pickle::new(protocol).op(b'}').op(b'q').raw(&[0]).op(b'(');
    let p = p.text("W1").array((module, latin1), &[2, 3], "f4", "<", false, &f32_le(&[1., 2., 3., 4., 5., 6.]));
    let p = p.text("b1").array((module, latin1), &[3], "f8", ">", false, &f64_be(&[0.5, -0.5, 0.25]));
    // Column after column: the C-order rows are [1, 2], [3, 4], [5, 6].
    let p = p.text("W2").array((module, latin1), &[3, 2], "f4", "<", true, &f32_le(&[1., 3., 5., 2., 4., 6.]));
    let p = p.text("b2").array((module, latin1), &[1, 2], "f4", "<", false, &f32_le(&[0., 1.]));
    p.op(b'u').stop()
}

/// The network `small_dict` holds, in our layout (outputs × inputs, column-major).
fn expect_small_network(network: &Network) {
    let parameters = network.parameters();
    // W1 is inputs × outputs in C order: our outputs × inputs column-major has the same values.
    assert_eq!(parameters[0].as_slice(), &[1., 2., 3., 4., 5., 6.]);
    assert_eq!(parameters[1].as_slice(), &[0.5, -0.5, 0.25]);
    assert_eq!(parameters[2].as_slice(), &[1., 2., 3., 4., 5., 6.]);
    assert_eq!(parameters[3].as_slice(), &[0., 1.]);
    assert_eq!(network.sizes(), vec![2, 3, 2]);
}

fn import(bytes: &[u8]) -> Result<Network, PickleError> {
    network_from_pickle_bytes(bytes, Activation::Sigmoid, Loss::SoftmaxCrossEntropy)
}

#[test]
fn numpy_1_and_2_pickles_of_protocols_2_and_3_are_read() {
    for protocol in [2, 3] {
        for module in ["numpy.core.multiarray", "numpy._core.multiarray"] {
            let network = import(&small_dict(protocol, module)).unwrap_or_else(|e| panic!("{protocol} {module}: {e}"));
            expect_small_network(&network);
        }
    }
}

#[test]
fn protocol_5_arrays_from_buffers_and_an_ordered_dict_are_read() {
    let p = Pickle::new(5).global("collections", "OrderedDict").op(b')').op(b'R').op(0x94).op(b'(');
    let p = p.text("W1").frombuffer(&[2, 3], "f4", "<", false, &f32_le(&[1., 2., 3., 4., 5., 6.]));
    let p = p.text("b1").frombuffer(&[3], "f8", ">", false, &f64_be(&[0.5, -0.5, 0.25]));
    let p = p.text("W2").frombuffer(&[3, 2], "f4", "<", true, &f32_le(&[1., 3., 5., 2., 4., 6.]));
    let p = p.text("b2").frombuffer(&[2], "f4", "<", false, &f32_le(&[0., 1.]));
    expect_small_network(&import(&p.op(b'u').stop()).unwrap());
}

#[test]
fn a_dtype_fetched_from_the_memo_keeps_the_byte_order_build_gave_it() {
    // As `sample_weight.pkl` does: the dtype is memoized before BUILD, and fetched for b1.
    let p = Pickle::new(3).op(b'}').op(b'(').text("W1");
    let p = p.global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").int(0).op(0x85);
    let p = p.op(b'C').raw(&[1, b'b']).op(0x87).op(b'R').op(b'(').int(1).shape(&[1, 2]);
    let p = p.global("numpy", "dtype").text("f8").op(0x89).op(0x88).op(0x87).op(b'R').op(b'q').raw(&[7]);
    let p = p.op(b'(').int(3).text(">").op(b'N').op(b'N').op(b'N').int(-1).int(-1).int(0).op(b't').op(b'b');
    let p = p.op(0x89).bytes(&f64_be(&[1.5, 2.5])).op(b't').op(b'b');
    let p = p.text("b1").global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").int(0).op(0x85);
    let p = p.op(b'C').raw(&[1, b'b']).op(0x87).op(b'R').op(b'(').int(1).shape(&[2]).op(b'h').raw(&[7]);
    let p = p.op(0x89).bytes(&f64_be(&[-1.0, 3.0])).op(b't').op(b'b').op(b'u');
    let network = import(&p.stop()).unwrap();
    assert_eq!(network.parameters()[0].as_slice(), &[1.5, 2.5]);
    assert_eq!(network.parameters()[1].as_slice(), &[-1.0, 3.0]);
}

#[test]
fn every_global_but_numpys_is_refused_by_name() {
    let os_system = Pickle::new(2).global("os", "system").text("echo hi").op(0x85).op(b'R').stop();
    let error = import(&os_system).unwrap_err();
    assert!(matches!(&error, PickleError::RefusedGlobal { module, name } if module == "os" && name == "system"));
    assert_eq!(
        error.to_string(),
        "refusing to load `os.system`: a pickle of NumPy arrays needs only numpy's array globals"
    );
    let eval = Pickle::new(4).text("builtins").text("eval").op(0x93).stop();
    assert_eq!(
        import(&eval).unwrap_err().to_string(),
        "refusing to load `builtins.eval`: a pickle of NumPy arrays needs only numpy's array globals"
    );
    // What a terminal would read as an escape sequence is shown escaped.
    let escape = Pickle::new(2).global("os\u{1b}[2J", "x").stop();
    assert!(import(&escape).unwrap_err().to_string().contains("os\\u{1b}[2J.x"));
    // The allowed globals only as NumPy calls them: bytes() but not bytes(10**9).
    let bytes = Pickle::new(2).global("__builtin__", "bytes").int(1_000_000_000).op(0x85).op(b'R').stop();
    let error = import(&bytes).unwrap_err();
    assert!(matches!(error, PickleError::Invalid { opcode: "REDUCE", .. }), "{error}");
    let encode = Pickle::new(2).global("_codecs", "encode").text("x").text("rot13").op(0x86).op(b'R').stop();
    assert!(matches!(import(&encode).unwrap_err(), PickleError::Invalid { opcode: "REDUCE", .. }));
}

#[test]
fn lengths_beyond_the_input_are_refused_before_anything_is_allocated() {
    for (opcode, len) in [(0x8e, &u64::MAX.to_le_bytes()[..]), (0x96, &(1_u64 << 62).to_le_bytes()[..])] {
        let bytes = Pickle::new(4).op(opcode).raw(len).raw(b"abc").stop();
        let error = import(&bytes).unwrap_err();
        assert!(matches!(error, PickleError::Truncated { offset: 2, .. }), "{error}");
    }
    let error = import(&Pickle::new(4).op(b'X').raw(&[0xff; 4]).stop()).unwrap_err();
    assert_eq!(error.to_string(), "the pickle ends inside BINUNICODE at byte 2: the file is truncated");
    let error = import(&Pickle::new(4).op(0x95).raw(&[0xff; 8]).op(b'}').stop()).unwrap_err();
    assert!(matches!(error, PickleError::Truncated { opcode: "FRAME", .. }), "{error}");
    let error = import(&Pickle::new(2).op(b'T').raw(&(-5_i32).to_le_bytes()).stop()).unwrap_err();
    assert!(matches!(error, PickleError::Invalid { opcode: "BINSTRING", .. }), "{error}");
}

#[test]
fn a_cut_at_every_byte_and_bytes_after_the_stop_are_errors() {
    for bytes in [small_dict(2, "numpy._core.multiarray"), small_dict(3, "numpy.core.multiarray")] {
        for cut in 0..bytes.len() {
            let error = import(&bytes[..cut]).expect_err("a truncated pickle is refused");
            assert!(
                matches!(error, PickleError::Truncated { .. } | PickleError::NoStop { .. }),
                "cut at {cut}: {error}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(b'.');
        let error = import(&longer).unwrap_err();
        assert!(matches!(error, PickleError::TrailingBytes { count: 1, .. }), "{error}");
    }
}

#[test]
fn any_single_opcode_after_the_protocol_is_an_error_or_a_value_never_a_panic() {
    for opcode in 0..=255_u8 {
        for tail in [&b""[..], b"\x00\x00\x00\x00\x00\x00\x00\x00\x00.", b"(((.", b"N}NK\x01s."] {
            let bytes = Pickle::new(4).op(opcode).raw(tail).0;
            let _ = import(&bytes);
        }
    }
}

#[test]
fn nesting_and_copying_are_bounded() {
    let deep = (0..10_000).fold(Pickle::new(4).op(b')'), |p, _| p.op(0x85)).stop();
    let error = import(&deep).unwrap_err();
    assert!(error.to_string().contains("more than 32 deep"), "{error}");
    let deep_list = (0..100).fold(Pickle::new(4), |p, _| p.op(b']')).raw(&[b'a'; 99]).stop();
    assert!(import(&deep_list).unwrap_err().to_string().contains("more than 32 deep"));
    // A list of 1,000 items fetched from the memo and appended to 2,000 times.
    let p = Pickle::new(4).op(b']').op(b'(');
    let p = (0..1000).fold(p, |p, _| p.op(b'N')).op(b'e').op(0x94);
    let p = (0..2000).fold(p, |p, _| p.op(b'h').raw(&[0]).op(b'N').op(b'a').op(b'0'));
    let error = import(&p.stop()).unwrap_err();
    assert!(error.to_string().contains("would copy more than 1048576 items"), "{error}");
}

#[test]
fn operands_that_numpy_never_writes_are_refused_with_where_they_are() {
    let cases: [(Vec<u8>, &str); 8] = [
        (Pickle::new(4).op(b'h').raw(&[3]).stop(), "byte 2 (BINGET): the memo has no entry 3"),
        (
            Pickle::new(4).op(b'N').op(b'(').op(0x85).stop(),
            "byte 4 (TUPLE1): it takes more items than the stack holds above its last MARK",
        ),
        (Pickle::new(4).op(b'N').op(b'u').stop(), "byte 3 (SETITEMS): no MARK comes before it"),
        (
            Pickle::new(4).op(b']').int(1).int(2).op(b's').stop(),
            "byte 7 (SETITEM): it sets items in something that is not a dict",
        ),
        (Pickle::new(4).op(b'.').stop(), "byte 2 (STOP): the stack is empty"),
        (
            Pickle::new(4).op(b'}').op(b'N').op(b'b').stop(),
            "byte 4 (BUILD): BUILD is given None as state, where NumPy gives a tuple",
        ),
        (Pickle::new(4).op(b'}').op(0x80).raw(&[4]).stop(), "byte 3 (PROTO): PROTO comes only first"),
        (
            Pickle::new(4).global("numpy", "dtype").text("U3").op(0x85).op(b'R').stop(),
            "byte 20 (REDUCE): dtype \"U3\" is not one of NumPy's number types (f2, f4, f8, i1 to i8, u1 to u8, b1)",
        ),
    ];
    for (bytes, message) in cases {
        assert_eq!(import(&bytes).unwrap_err().to_string(), message);
    }
    let error = import(&Pickle::new(4).op(0xff).stop()).unwrap_err();
    assert_eq!(error.to_string(), "byte 2: opcode 0xff is not one that pickles of NumPy arrays use");
    assert_eq!(
        import(b"{\"a\": 1}").unwrap_err().to_string().split(':').next(),
        Some("not a Python pickle of protocol 2 to 5")
    );
    assert!(matches!(import(b"\x80\x01}."), Err(PickleError::Protocol { protocol: 1 })));
    assert!(matches!(import(b""), Err(PickleError::Truncated { offset: 0, .. })));
    assert!(matches!(import(&Pickle::new(4).op(b']').stop()), Err(PickleError::NotADict { found: "a list" })));
}

#[test]
fn arrays_that_do_not_hold_their_shape_or_are_not_floats_are_refused() {
    let short = Pickle::new(3).op(b'}').text("W1");
    let short = short.array(("numpy._core.multiarray", false), &[2, 3], "f4", "<", false, &[0; 20]).op(b's').stop();
    let error = import(&short).unwrap_err();
    assert!(
        error.to_string().contains("an array of shape (2, 3) and dtype <f4 needs 24 bytes but is given 20"),
        "{error}"
    );

    let huge = Pickle::new(3).op(b'}').text("W1");
    let huge = huge.array(("numpy._core.multiarray", false), &[i32::MAX, i32::MAX, i32::MAX], "f8", "<", false, &[]);
    let error = import(&huge.op(b's').stop()).unwrap_err();
    assert!(error.to_string().contains("needs more bytes than 64 bits count"), "{error}");

    let ints = Pickle::new(3).op(b'}').text("W1");
    let ints = ints.array(("numpy._core.multiarray", false), &[1, 2], "i8", "<", false, &[0; 16]).op(b's').stop();
    let error = import(&ints).unwrap_err();
    assert!(
        matches!(&error, PickleError::Weights(NpzError::UnsupportedDtype { dtype, .. }) if dtype == "<i8"),
        "{error}"
    );

    let list = Pickle::new(3).op(b'}').text("W1").op(b']').op(b's').stop();
    let error = import(&list).unwrap_err();
    assert_eq!(error.to_string(), "array W1 cannot be read: it is a list, not a NumPy array");

    let unbuilt = Pickle::new(3).op(b'}').text("W1").global("numpy.core.multiarray", "_reconstruct");
    let unbuilt = unbuilt.global("numpy", "ndarray").int(0).op(0x85).op(b'C').raw(&[1, b'b']).op(0x87).op(b'R');
    let error = import(&unbuilt.op(b's').stop()).unwrap_err();
    assert_eq!(error.to_string(), "array W1 cannot be read: the pickle never gives this array its data");

    let nan = Pickle::new(3).op(b'}').op(b'(').text("W1");
    let nan = nan.array(("numpy._core.multiarray", false), &[1, 1], "f4", "<", false, &f32_le(&[f32::NAN])).text("b1");
    let nan = nan.array(("numpy._core.multiarray", false), &[1], "f4", "<", false, &f32_le(&[0.])).op(b'u').stop();
    let error = import(&nan).unwrap_err();
    assert!(matches!(error, PickleError::Weights(NpzError::Network(NnError::NonFinite { .. }))), "{error}");
}

#[test]
fn python_2_byte_strings_count_as_text_and_later_entries_win() {
    // As NumPy under Python 2 pickles an array: names, dtype code and byte order are Python 2
    // `str`, i.e. bytes (SHORT_BINSTRING), and so is the data.
    let p = Pickle::new(2).op(b'}').op(b'(').op(b'U').raw(b"\x02W1");
    let p = p.global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").int(0).op(0x85);
    let p = p.op(b'U').raw(b"\x01b").op(0x87).op(b'R').op(b'(').int(1).shape(&[1, 1]);
    let p = p.global("numpy", "dtype").op(b'U').raw(b"\x02f4").int(0).int(1).op(0x87).op(b'R');
    let p = p.op(b'(').int(3).op(b'U').raw(b"\x01<").op(b'N').op(b'N').op(b'N').int(-1).int(-1).int(0).op(b't');
    let p = p.op(b'b').op(0x89).op(b'U').raw(&[4]).raw(&f32_le(&[7.])).op(b't').op(b'b');
    let p = p.text("b1").array(("numpy.core.multiarray", true), &[1], "f4", "<", false, &f32_le(&[1.]));
    let p = p.text("b1").array(("numpy.core.multiarray", true), &[1], "f4", "<", false, &f32_le(&[2.])).op(b'u');
    let network = import(&p.stop()).unwrap();
    assert_eq!(network.parameters()[0].as_slice(), &[7.]);
    assert_eq!(network.parameters()[1].as_slice(), &[2.]);
}
