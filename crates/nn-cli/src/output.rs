//! Standard output for every command, through one path: a failed write becomes an error the
//! command returns (where `println!` would panic), and `main` decides how the process ends.

use std::fmt;
use std::io::{self, Write};

/// A write to standard output failed. `main` ends quietly with status 141 when the pipe was
/// closed (`nn-cli recipes | head -1`), as a process killed by SIGPIPE does, and otherwise says
/// what failed and ends with status 1 (`nn-cli summary ... > /dev/full`).
#[derive(Debug)]
pub struct StdoutError(pub io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The io error follows as the source, which `{:#}` prints after a colon.
        f.write_str("cannot write to standard output")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl StdoutError {
    /// Whether the reader went away (a closed pipe), which is not worth a message.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

/// Writes `text` to standard output.
pub fn write_out(text: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    io::stdout().lock().write_fmt(text).map_err(StdoutError)
}

/// Writes out what standard output still holds; its last line may wait in its buffer.
pub fn flush_out() -> Result<(), StdoutError> {
    io::stdout().lock().flush().map_err(StdoutError)
}

/// `println!` through [`write_out`]: evaluates to `Result<(), StdoutError>`.
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
