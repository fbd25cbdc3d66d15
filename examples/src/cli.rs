//! Small helpers for the programs' command lines: `--flag value` and `--flag=value`,
//! typed values, and one error type whose message the binaries print before the usage
//! (exit code [`USAGE_EXIT`]).

use std::fmt;
use std::str::FromStr;

/// The exit code for a bad command line.
pub const USAGE_EXIT: u8 = 2;

/// A bad command line: unknown flag, missing or malformed value, value out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// The command line, one argument at a time.
#[derive(Debug)]
pub struct Args<'a> {
    args: &'a [String],
    pos: usize,
}

/// One flag of the command line, with its inline value (`--flag=value`) if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag<'a> {
    /// The flag, for example `--mode`.
    pub name: &'a str,
    inline: Option<&'a str>,
}

impl<'a> Args<'a> {
    /// The arguments after the program name.
    #[must_use]
    pub const fn new(args: &'a [String]) -> Self {
        Self { args, pos: 0 }
    }

    /// The next flag, or `None` at the end.
    ///
    /// # Errors
    ///
    /// A positional argument (this package's programs take none).
    pub fn next_flag(&mut self) -> Result<Option<Flag<'a>>, ArgError> {
        let Some(arg) = self.args.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        if !arg.starts_with('-') {
            return Err(ArgError(format!("unexpected argument `{arg}`")));
        }
        Ok(Some(match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => Flag {
                name,
                inline: Some(value),
            },
            _ => Flag {
                name: arg,
                inline: None,
            },
        }))
    }

    /// The value of `flag`: its inline value, else the next argument.
    ///
    /// # Errors
    ///
    /// No value (end of the command line, or another flag follows), or an empty one.
    pub fn value(&mut self, flag: Flag<'a>) -> Result<&'a str, ArgError> {
        let value = match flag.inline {
            Some(v) => v,
            None => match self.args.get(self.pos) {
                Some(v) if !v.starts_with("--") => {
                    self.pos += 1;
                    v.as_str()
                }
                _ => return Err(ArgError(format!("{} needs a value", flag.name))),
            },
        };
        if value.is_empty() {
            return Err(ArgError(format!("{} needs a value", flag.name)));
        }
        Ok(value)
    }

    /// Checks that a flag without a value was not given one (`--json=yes`).
    ///
    /// # Errors
    ///
    /// The flag has an inline value.
    pub fn no_value(&self, flag: Flag<'a>) -> Result<(), ArgError> {
        match flag.inline {
            Some(_) => Err(ArgError(format!("{} takes no value", flag.name))),
            None => Ok(()),
        }
    }
}

/// Parses a number for `flag` (decimal, or hexadecimal with `0x`).
///
/// # Errors
///
/// The value is not a number of type `T`.
pub fn number<T>(flag: &str, value: &str) -> Result<T, ArgError>
where
    T: FromStr + TryFrom<u64>,
{
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse::<u64>().ok(),
    };
    parsed
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| ArgError(format!("{flag}: `{value}` is not a valid number")))
}

/// Parses one of `choices` (the strings the flag accepts) for `flag`.
///
/// # Errors
///
/// The value is none of the choices; the message lists them.
pub fn choice<T: Copy>(flag: &str, value: &str, choices: &[(&str, T)]) -> Result<T, ArgError> {
    choices
        .iter()
        .find(|(name, _)| *name == value)
        .map(|&(_, v)| v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ArgError(format!(
                "{flag}: `{value}` is not one of {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::{Args, choice, number};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_and_values() {
        let a = args(&["--mode", "adopt", "--seed=0x10", "--json", "--devices"]);
        let mut it = Args::new(&a);
        let f = it.next_flag().unwrap().unwrap();
        assert_eq!((f.name, it.value(f).unwrap()), ("--mode", "adopt"));
        let f = it.next_flag().unwrap().unwrap();
        let v = it.value(f).unwrap();
        assert_eq!(number::<u64>(f.name, v).unwrap(), 16);
        let f = it.next_flag().unwrap().unwrap();
        assert!(it.no_value(f).is_ok());
        let f = it.next_flag().unwrap().unwrap();
        assert!(it.value(f).is_err());
        assert_eq!(it.next_flag().unwrap(), None);
        assert!(number::<u8>("--n", "300").is_err());
        assert!(number::<u8>("--n", "-1").is_err());
        assert_eq!(choice("--t", "b", &[("a", 1), ("b", 2)]).unwrap(), 2);
        assert!(choice("--t", "c", &[("a", 1), ("b", 2)]).is_err());
        let a = args(&["stray"]);
        assert!(Args::new(&a).next_flag().is_err());
    }
}
