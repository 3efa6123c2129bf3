//! The benchmark report: the machine, the goals table (ratio, goal, met or not, command) and one
//! table per section, rendered as the Markdown that `tools/bench-report.sh` splices into
//! BENCHMARKS.md. It only formats what the sections measured; it judges a goal by its ratio and
//! never fails the run for a missed goal (no timing assertions anywhere).

use std::fmt::Write as _;

/// How a measured value is compared with its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// Met when the value is at least the target (speedups).
    AtLeast,
    /// Met when the value is at most the target (costs, overheads, stalls).
    AtMost,
}

/// One goal of issue 6 with what was measured.
#[derive(Debug, Clone)]
pub struct Goal {
    /// What is compared with what.
    pub what: String,
    /// The measured value (a ratio unless `unit` says otherwise).
    pub value: f64,
    /// How it is judged.
    pub cmp: Cmp,
    /// The target.
    pub target: f64,
    /// `x` for ratios, or a unit such as `ms`.
    pub unit: &'static str,
    /// Absolute figures alongside, for context.
    pub detail: String,
    /// The command that reproduces it.
    pub command: String,
}

impl Goal {
    /// Whether the goal is met.
    pub fn met(&self) -> bool {
        match self.cmp {
            Cmp::AtLeast => self.value >= self.target,
            Cmp::AtMost => self.value <= self.target,
        }
    }
}

/// One table of measurements.
#[derive(Debug, Clone)]
pub struct Table {
    /// Heading.
    pub title: String,
    /// A sentence saying what is measured and against what.
    pub note: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table.
    pub fn new(title: &str, note: &str, header: &[&str]) -> Table {
        Table {
            title: title.to_string(),
            note: note.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }
    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Heading of the goals table (default `Goals`).
    pub goals_heading: String,
    /// `key: value` lines describing the machine and the run.
    pub machine: Vec<(String, String)>,
    /// Goals in issue order.
    pub goals: Vec<Goal>,
    /// Section tables.
    pub tables: Vec<Table>,
}

fn fmt_value(value: f64, unit: &str) -> String {
    if unit == "x" {
        format!("{value:.2}x")
    } else {
        format!("{value:.2} {unit}")
    }
}

fn render_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

impl Report {
    /// The report as Markdown (headings from level 3 down, for splicing).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if !self.machine.is_empty() {
            let _ = writeln!(out, "### Machine and run\n");
            for (k, v) in &self.machine {
                let _ = writeln!(out, "- **{k}**: {v}");
            }
            out.push('\n');
        }
        let heading = if self.goals_heading.is_empty() {
            "Goals"
        } else {
            &self.goals_heading
        };
        let _ = writeln!(out, "### {heading}\n");
        let met = self.goals.iter().filter(|g| g.met()).count();
        let _ = writeln!(
            out,
            "{met} of {} goals met in this run.\n",
            self.goals.len()
        );
        let rows: Vec<Vec<String>> = self
            .goals
            .iter()
            .map(|g| {
                let op = match g.cmp {
                    Cmp::AtLeast => "≥",
                    Cmp::AtMost => "≤",
                };
                vec![
                    g.what.clone(),
                    fmt_value(g.value, g.unit),
                    format!("{op} {}", fmt_value(g.target, g.unit)),
                    if g.met() { "met" } else { "**not met**" }.to_string(),
                    g.detail.clone(),
                    format!("`{}`", g.command),
                ]
            })
            .collect();
        render_table(
            &mut out,
            &[
                "goal".into(),
                "measured".into(),
                "goal".into(),
                "met".into(),
                "absolute".into(),
                "reproduce".into(),
            ],
            &rows,
        );
        for t in &self.tables {
            let _ = writeln!(out, "\n### {}\n", t.title);
            if !t.note.is_empty() {
                let _ = writeln!(out, "{}\n", t.note);
            }
            render_table(&mut out, &t.header, &t.rows);
        }
        out
    }
}
