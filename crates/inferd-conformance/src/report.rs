//! The results per engine: counts per outcome, the Markdown table, the
//! per-case list, and the check against the committed pass counts.

use std::collections::BTreeMap;

use crate::node_cases::CaseOutcome;

/// The outcome kinds, in the table's column order.
pub const KINDS: [&str; 5] = ["pass", "mismatch", "unsupported", "error", "not tested"];

/// One engine's results over every case, in case order.
pub struct EngineResults {
    pub engine: String,
    pub outcomes: Vec<CaseOutcome>,
}

impl EngineResults {
    /// How many cases had `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.outcomes.iter().filter(|o| o.kind() == kind).count()
    }
}

/// A Markdown table: one row per engine, one column per outcome kind.
pub fn table(results: &[EngineResults]) -> String {
    let mut out = String::from("| engine | ");
    out.push_str(&KINDS.join(" | "));
    out.push_str(" | cases |\n| --- |");
    out.push_str(&" ---: |".repeat(KINDS.len() + 1));
    out.push('\n');
    for engine in results {
        out.push_str(&format!("| {} |", engine.engine));
        for kind in KINDS {
            out.push_str(&format!(" {} |", engine.count(kind)));
        }
        out.push_str(&format!(" {} |\n", engine.outcomes.len()));
    }
    out
}

/// One line per case: its name, then each engine's outcome kind; details of
/// failures after a tab, for grepping.
pub fn per_case(names: &[String], results: &[EngineResults]) -> String {
    let mut out = String::from("case");
    for engine in results {
        out.push('\t');
        out.push_str(&engine.engine);
    }
    out.push('\n');
    for (index, name) in names.iter().enumerate() {
        out.push_str(name);
        for engine in results {
            out.push('\t');
            out.push_str(engine.outcomes[index].kind());
        }
        for engine in results {
            let detail = engine.outcomes[index].detail();
            if !detail.is_empty() && !matches!(engine.outcomes[index], CaseOutcome::NotTested(_)) {
                let short: String = detail
                    .replace(['\t', '\n'], " ")
                    .chars()
                    .take(160)
                    .collect();
                out.push_str(&format!("\t{}: {short}", engine.engine));
            }
        }
        out.push('\n');
    }
    out
}

/// The committed pass count per engine; a run below it fails.
pub type Baseline = BTreeMap<String, usize>;

/// Each engine whose pass count fell below its baseline, in words.
pub fn regressions(results: &[EngineResults], baseline: &Baseline) -> Vec<String> {
    let mut found = Vec::new();
    for (engine, &floor) in baseline {
        match results.iter().find(|r| &r.engine == engine) {
            None => found.push(format!("{engine}: not run, baseline {floor} passes")),
            Some(r) if r.count("pass") < floor => found.push(format!(
                "{engine}: {} cases pass, below the committed {floor}",
                r.count("pass")
            )),
            Some(_) => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(engine: &str, outcomes: Vec<CaseOutcome>) -> EngineResults {
        EngineResults {
            engine: engine.to_owned(),
            outcomes,
        }
    }

    #[test]
    fn a_drop_below_the_baseline_is_a_regression() {
        let run = [results(
            "tract",
            vec![CaseOutcome::Pass, CaseOutcome::Mismatch("x".into())],
        )];
        let at = Baseline::from([("tract".to_owned(), 1)]);
        assert!(regressions(&run, &at).is_empty());
        let above = Baseline::from([("tract".to_owned(), 2)]);
        assert_eq!(regressions(&run, &above).len(), 1);
        let missing = Baseline::from([("onnxruntime".to_owned(), 0)]);
        assert_eq!(regressions(&run, &missing).len(), 1);
    }

    #[test]
    fn the_table_counts_each_kind() {
        let run = [results(
            "tract",
            vec![
                CaseOutcome::Pass,
                CaseOutcome::Pass,
                CaseOutcome::Unsupported("op".into()),
            ],
        )];
        let table = table(&run);
        assert!(
            table.contains("| tract | 2 | 0 | 1 | 0 | 0 | 3 |"),
            "{table}"
        );
    }
}
