//! The one collector of input problems. Every area's validation (`traffic`, `flow`, `output`,
//! `local`, `kube`, `worker`) reports into the same [`Problems`], so a command's whole input is
//! checked in one pass and every problem is reported at once — each naming the flag
//! (`--rate`), the argument (`WORKLOAD`), or the scenario file's line and key
//! (`scenarios/x.yaml line 4 (rate)`). [`PlanError`] carries them out; commands map it to exit
//! code 2.

use std::sync::OnceLock;

use serde_saphyr::Spanned;

use super::parse;
use super::scenario::{Scenario, ScenarioFile};

/// One problem with the input, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `--rate`, or `scenarios/x.yaml line 4 (rate)`.
    pub place: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// Every problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "invalid input: {one}"),
            many => {
                write!(f, "invalid input ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl PlanError {
    pub fn single(place: impl Into<String>, message: impl Into<String>) -> PlanError {
        PlanError {
            problems: vec![Problem {
                place: place.into(),
                message: message.into(),
            }],
        }
    }
}

/// A raw value and where it came from.
struct Raw {
    text: String,
    place: String,
}

/// A setting that does not apply to a kind of load: whether its flag was given, the flag, its
/// line in the scenario file (if the file set it), its scenario key, and why it does not apply.
pub type Inapplicable = (bool, &'static str, Option<u64>, &'static str, &'static str);

/// Collects problems while the input is read; knows the scenario file, if any, so a value
/// taken from it is named by its line and key.
pub struct Problems<'a> {
    scenario: Option<&'a Scenario>,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub fn new(scenario: Option<&'a Scenario>) -> Problems<'a> {
        Problems {
            scenario,
            list: Vec::new(),
        }
    }

    pub fn scenario(&self) -> Option<&'a Scenario> {
        self.scenario
    }

    /// The scenario file's settings; all unset without a file.
    pub fn file(&self) -> &'a ScenarioFile {
        static EMPTY: OnceLock<ScenarioFile> = OnceLock::new();
        match self.scenario {
            Some(s) => &s.file,
            None => EMPTY.get_or_init(ScenarioFile::default),
        }
    }

    /// Where a file value is, for messages.
    pub fn file_place(&self, key: &str, line: u64) -> String {
        match self.scenario {
            Some(s) if line > 0 => format!("{} line {line} ({key})", s.path.display()),
            Some(s) => format!("{} ({key})", s.path.display()),
            None => key.to_string(),
        }
    }

    /// Refuses each setting that was given, at its flag or else at its scenario line, with
    /// `lead: why`.
    pub fn refuse(&mut self, lead: &str, settings: impl IntoIterator<Item = Inapplicable>) {
        for (flag_given, flag, file_line, key, why) in settings {
            let place = flag_given
                .then(|| flag.to_string())
                .or_else(|| file_line.map(|l| self.file_place(key, l)));
            if let Some(place) = place {
                self.push(place, format!("{lead}: {why}"));
            }
        }
    }

    /// Records a problem at `place`.
    pub fn push(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.list.push(Problem {
            place: place.into(),
            message: message.into(),
        });
    }

    /// The value of `result`, or `None` with its error recorded at `place`.
    pub fn check<T>(&mut self, place: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.push(place, m)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many problems so far: an area compares it before and after to know whether its
    /// own input was clean.
    pub fn count(&self) -> usize {
        self.list.len()
    }

    fn pick(
        &self,
        flag: Option<&str>,
        flag_name: &str,
        file: Option<&Spanned<String>>,
        key: &str,
    ) -> Option<Raw> {
        if let Some(v) = flag {
            return Some(Raw {
                text: v.to_string(),
                place: flag_name.to_string(),
            });
        }
        file.map(|s| Raw {
            text: s.value.clone(),
            place: self.file_place(key, s.referenced.line()),
        })
    }

    /// Reads one setting — the flag when given, else the file's key — through `parser`,
    /// recording a problem (and returning `None`) on error. Returns the value and its place.
    pub fn value<T>(
        &mut self,
        flag: Option<&str>,
        flag_name: &str,
        file: Option<&Spanned<String>>,
        key: &str,
        parser: impl Fn(&str) -> Result<T, String>,
    ) -> Option<(T, String)> {
        let raw = self.pick(flag, flag_name, file, key)?;
        match parser(&raw.text) {
            Ok(v) => Some((v, raw.place)),
            Err(m) => {
                self.push(raw.place, m);
                None
            }
        }
    }

    /// A boolean that a flag can only switch on and the file can set either way.
    pub fn switch(
        &mut self,
        flag: bool,
        file: Option<&Spanned<String>>,
        key: &str,
    ) -> Option<bool> {
        if flag {
            return Some(true);
        }
        let s = file?;
        match parse::boolean(&s.value) {
            Ok(b) => Some(b),
            Err(m) => {
                let place = self.file_place(key, s.referenced.line());
                self.push(place, m);
                None
            }
        }
    }

    /// `value` when no problem was recorded, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, PlanError> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(PlanError {
                problems: self.list,
            })
        }
    }
}
