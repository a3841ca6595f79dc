//! The blocks of a Markdown file that `cargo xtask docs` checks: console sessions, shell lists
//! and files, each with the marker comment written right before it.

use anyhow::{Result, bail};

/// One fenced block worth checking, with where it starts (1-based line of its opening fence).
pub struct Block {
    pub line: usize,
    pub kind: Kind,
    pub marker: Marker,
    /// Counts the `## ` headings above the block: a server started in one section is stopped
    /// when the next begins.
    pub section: usize,
}

pub enum Kind {
    /// A ```console block: commands and the output each prints.
    Console(Vec<Command>),
    /// A ```sh block: command lines, each with the line it starts on.
    Shell(Vec<(usize, String)>),
    /// A block after `<!-- docs: file PATH -->`: its text is written to PATH.
    File { path: String, text: String },
}

/// What the comment before a block asks for.
#[derive(Clone, PartialEq, Eq)]
pub enum Marker {
    None,
    /// `<!-- docs: long -->` (or `<!-- docs: long: why -->`): run only with `--long`.
    Long,
    /// `<!-- docs: slurm -->`: run when a Slurm cluster answers.
    Slurm,
    /// `<!-- docs: skip: why -->`: never run; the reason is printed.
    Skip(String),
    /// `<!-- docs: file PATH -->`.
    File(String),
}

/// One `$ ` command of a console block.
pub struct Command {
    pub line: usize,
    /// The command as a shell reads it (continuation lines kept, with their backslashes).
    pub text: String,
    /// The lines printed after it, up to the next command.
    pub expected: Vec<String>,
    /// From a trailing `# exit N`; 0 otherwise.
    pub status: i32,
}

/// The blocks of `text` in order. Fences other than console and sh are skipped unless a file
/// marker names them.
pub fn blocks(text: &str) -> Result<Vec<Block>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut section = 0;
    let mut marker = Marker::None;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if line.starts_with("## ") {
            section += 1;
        }
        if let Some(comment) = line.trim().strip_prefix("<!-- docs:") {
            marker = parse_marker(comment, index + 1)?;
            index += 1;
            continue;
        }
        let Some(info) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                marker = Marker::None;
            }
            index += 1;
            continue;
        };
        let start = index;
        let end = (index + 1..lines.len())
            .find(|&i| lines[i].starts_with("```"))
            .ok_or_else(|| anyhow::anyhow!("line {}: the block never ends", start + 1))?;
        let body = &lines[start + 1..end];
        let kind = match (&marker, info.trim()) {
            (Marker::File(path), _) => {
                Some(Kind::File { path: path.clone(), text: body.iter().map(|l| format!("{l}\n")).collect() })
            }
            (_, "console") => Some(Kind::Console(commands(body, start + 2)?)),
            (_, "sh") => Some(Kind::Shell(shell_lines(body, start + 2))),
            _ => None,
        };
        if let Some(kind) = kind {
            blocks.push(Block { line: start + 1, kind, marker: marker.clone(), section });
        } else if marker != Marker::None {
            bail!("line {}: a docs marker before a block that is neither console, sh nor a file", start + 1);
        }
        marker = Marker::None;
        index = end + 1;
    }
    Ok(blocks)
}

fn parse_marker(comment: &str, line: usize) -> Result<Marker> {
    let Some(body) = comment.trim().strip_suffix("-->") else {
        bail!("line {line}: a docs marker must fit on one line: <!-- docs: ... -->");
    };
    let body = body.trim();
    let (word, rest) = body.split_once([':', ' ']).unwrap_or((body, ""));
    let rest = rest.trim_start_matches(':').trim();
    Ok(match word {
        "long" => Marker::Long,
        "slurm" => Marker::Slurm,
        "skip" if !rest.is_empty() => Marker::Skip(rest.to_string()),
        "file" if !rest.is_empty() => Marker::File(rest.to_string()),
        _ => bail!("line {line}: unknown docs marker {body:?} (long, slurm, skip: WHY, file PATH)"),
    })
}

/// Splits a console block into commands and their expected output.
fn commands(body: &[&str], first_line: usize) -> Result<Vec<Command>> {
    let mut commands: Vec<Command> = Vec::new();
    let mut index = 0;
    while index < body.len() {
        let line = body[index];
        if let Some(first) = line.strip_prefix("$ ") {
            let start = index;
            let mut text = first.to_string();
            while text.ends_with('\\') && index + 1 < body.len() {
                index += 1;
                text.push('\n');
                text.push_str(body[index]);
            }
            let status = exit_status(&text);
            commands.push(Command { line: first_line + start, text, expected: Vec::new(), status });
        } else if let Some(command) = commands.last_mut() {
            command.expected.push(line.to_string());
        } else {
            bail!("line {}: output before the first `$ ` command", first_line + index);
        }
        index += 1;
    }
    Ok(commands)
}

/// The status a command's trailing `# exit N` comment expects.
fn exit_status(text: &str) -> i32 {
    let last = text.lines().last().unwrap_or("");
    last.rsplit_once("# exit ")
        .and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

/// The command lines of a shell block, continuations joined, blank lines and comment lines left
/// out.
fn shell_lines(body: &[&str], first_line: usize) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut index = 0;
    while index < body.len() {
        let start = index;
        let mut text = body[index].to_string();
        while text.ends_with('\\') && index + 1 < body.len() {
            index += 1;
            text.pop();
            text.push_str(body[index]);
        }
        let trimmed = text.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            lines.push((first_line + start, trimmed.to_string()));
        }
        index += 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_block_is_split_into_commands_outputs_and_statuses() {
        let text = "# Title\n\n<!-- docs: long: an hour -->\n```console\n$ nn-cli train \\\n    --epochs 2\nepoch 1\n...\n$ nn-cli eval   # exit 1\nerror: x\n```\n";
        let blocks = blocks(text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].marker == Marker::Long);
        assert_eq!(blocks[0].line, 4);
        let Kind::Console(commands) = &blocks[0].kind else { panic!("not a console block") };
        assert_eq!(commands[0].text, "nn-cli train \\\n    --epochs 2");
        assert_eq!(commands[0].expected, ["epoch 1", "..."]);
        assert_eq!((commands[0].line, commands[0].status), (5, 0));
        assert_eq!((commands[1].line, commands[1].status), (9, 1));
    }

    #[test]
    fn a_marker_belongs_to_the_next_block_only() {
        let text = "<!-- docs: file sweeps/a.json -->\n```json\n{}\n```\n\n```json\n[]\n```\n```sh\n# a comment\nnn-cli recipes   # list\n```\n";
        let blocks = blocks(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(matches!(&blocks[0].kind, Kind::File { path, text } if path == "sweeps/a.json" && text == "{}\n"));
        let Kind::Shell(lines) = &blocks[1].kind else { panic!("not a shell block") };
        assert_eq!(lines, &[(11, "nn-cli recipes   # list".to_string())]);
    }

    #[test]
    fn an_unknown_marker_is_refused() {
        assert!(blocks("<!-- docs: quick -->\n```console\n$ ls\n```\n").is_err());
    }
}
