//! Command-line reading for the binaries of the demo (`gpu-alloc-demo`), the
//! soak (`gpu-alloc-soak`, `gpu-alloc-threads`) and the bench (`traces`), on
//! `lexopt`. Each binary
//! matches its own options and takes their values with [`value`], [`number`] and
//! [`seconds`]; [`read`] and [`args_or_exit`] then do what every one of them
//! does: `-h`/`--help` prints the usage and exits 0, a bad command line (an
//! unknown option, a missing or bad value, a stray argument) prints one
//! `error: ...` line on stderr and exits 2.

pub use lexopt;

/// The exit code of a bad command line.
pub const USAGE_ERROR: u8 = 2;

/// What a command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command<T> {
    /// Run with these settings.
    Run(T),
    /// Print the usage and exit.
    Help,
}

/// The value of the option just read (`--flag VALUE` or `--flag=VALUE`). A next
/// argument that starts with `-` is the next option, not this one's value, so the
/// value is missing: `--ops --seed 2` is an error, not a bad count `--seed`.
pub fn value(parser: &mut lexopt::Parser) -> Result<String, lexopt::Error> {
    let mut values = parser.values()?;
    let value = values
        .next()
        .expect("lexopt: `values` returns at least one value or an error");
    lexopt::ValueExt::string(value)
}

/// The error for `text`, a value of `flag` that is not what `flag` takes.
pub fn invalid_value(flag: &str, text: &str, why: impl std::fmt::Display) -> lexopt::Error {
    format!("invalid value {text:?} for option '{flag}': {why}").into()
}

/// `text` as a number (`_` may separate digits); the error names `flag`.
pub fn parse_number<T>(text: &str, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.replace('_', "")
        .parse()
        .map_err(|e| invalid_value(flag, text, e))
}

/// The value of `flag` as a number of seconds: at least 0 and small enough for a
/// `Duration`.
pub fn seconds(parser: &mut lexopt::Parser, flag: &str) -> Result<f64, lexopt::Error> {
    let text = value(parser)?;
    let secs: f64 = parse_number(&text, flag)?;
    match std::time::Duration::try_from_secs_f64(secs) {
        Ok(_) => Ok(secs),
        Err(_) => Err(invalid_value(flag, &text, "not a number of seconds")),
    }
}

/// The value of `flag`, the option just read, as a number.
pub fn number<T>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, lexopt::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parse_number(&value(parser)?, flag)
}

/// Reads the command line in `parser` with `parse` and returns the settings to
/// run with. `Err` is the exit code, once printed what it means: 0 after
/// `usage` on stdout (for `Help`), [`USAGE_ERROR`] after one `error: ...` line
/// on stderr.
pub fn read<T>(
    parser: lexopt::Parser,
    usage: &str,
    parse: impl FnOnce(lexopt::Parser) -> Result<Command<T>, lexopt::Error>,
) -> Result<T, u8> {
    match parse(parser) {
        Ok(Command::Run(args)) => Ok(args),
        Ok(Command::Help) => {
            println!("{usage}");
            Err(0)
        }
        Err(e) => {
            eprintln!("error: {e} (try --help)");
            Err(USAGE_ERROR)
        }
    }
}

/// [`read`] on this process's command line; exits with the code where it
/// returns one.
pub fn args_or_exit<T>(
    usage: &str,
    parse: impl FnOnce(lexopt::Parser) -> Result<Command<T>, lexopt::Error>,
) -> T {
    read(lexopt::Parser::from_env(), usage, parse)
        .unwrap_or_else(|code| std::process::exit(code.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `value` and `number` take for `--flag` (the first argument).
    fn read<T>(
        args: &[&str],
        take: impl FnOnce(&mut lexopt::Parser) -> Result<T, lexopt::Error>,
    ) -> Result<T, String> {
        let mut parser = lexopt::Parser::from_args(args);
        let flag = parser.next().map_err(|e| e.to_string())?;
        assert_eq!(flag, Some(lexopt::Arg::Long("flag")));
        take(&mut parser).map_err(|e| e.to_string())
    }

    #[test]
    fn values() {
        assert_eq!(read(&["--flag", "x"], value), Ok("x".into()));
        assert_eq!(read(&["--flag=-x"], value), Ok("-x".into()));
        assert_eq!(read(&["--flag", "-"], value), Ok("-".into()));
        for args in [&["--flag"][..], &["--flag", "--other"], &["--flag", "-1"]] {
            assert_eq!(
                read(args, value),
                Err("missing argument for option '--flag'".into()),
                "{args:?}"
            );
        }
    }

    #[test]
    fn numbers() {
        let n = |args: &[&str]| read(args, |p| number::<u64>(p, "--flag"));
        assert_eq!(n(&["--flag", "1_000_000"]), Ok(1_000_000));
        assert_eq!(n(&["--flag=7"]), Ok(7));
        assert_eq!(
            n(&["--flag", "x"]),
            Err(r#"invalid value "x" for option '--flag': invalid digit found in string"#.into())
        );
        assert_eq!(
            n(&["--flag"]),
            Err("missing argument for option '--flag'".into())
        );
        assert_eq!(
            read(&["--flag", "2.5"], |p| number::<f64>(p, "--flag")),
            Ok(2.5)
        );
    }

    /// Seconds are what a `Duration` holds: no negative, infinite or huge value
    /// reaches `Duration::from_secs_f64` (which panics on them).
    #[test]
    fn seconds_fit_a_duration() {
        let s = |args: &[&str]| read(args, |p| seconds(p, "--flag"));
        assert_eq!(s(&["--flag", "0"]), Ok(0.0));
        assert_eq!(s(&["--flag", "2.5"]), Ok(2.5));
        for text in ["-1", "inf", "NaN", "1e30"] {
            assert_eq!(
                s(&[&format!("--flag={text}")]),
                Err(format!(
                    "invalid value {text:?} for option '--flag': not a number of seconds"
                )),
            );
        }
    }
}

/// Checks for a binary's command line, shared by the tools' `tests/cli.rs`.
pub mod check {
    use std::process::{Command, Output};

    fn run(bin: &str, args: &[&str]) -> Output {
        Command::new(bin)
            .args(args)
            .output()
            .expect("run the binary")
    }

    /// `--help` and `-h` print a usage starting `usage: NAME ` and naming every
    /// option, on stdout, and exit 0.
    pub fn help_prints_usage(bin: &str, name: &str, options: &[&str]) {
        for flag in ["--help", "-h"] {
            let out = run(bin, &[flag]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{name} {flag}: {stdout}");
            assert!(
                stdout.starts_with(&format!("usage: {name} ")),
                "{name} {flag}: {stdout}"
            );
            for option in options {
                assert!(
                    stdout.contains(option),
                    "{name} {flag}: the usage lacks {option}"
                );
            }
            assert!(out.stderr.is_empty(), "{name} {flag} wrote to stderr");
        }
    }

    /// Each of `bad` exits 2 with one `error:` line and nothing on stdout.
    pub fn bad_command_lines_exit_2(bin: &str, name: &str, bad: &[&[&str]]) {
        for args in bad {
            let out = run(bin, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{name} {args:?}: {stderr}");
            assert!(stderr.starts_with("error: "), "{name} {args:?}: {stderr}");
            assert!(
                out.stdout.is_empty(),
                "{name} {args:?} ran: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}
