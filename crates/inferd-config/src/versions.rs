//! Which registered versions of a model are served: the inference config's
//! `versions` (`"latest"`, `{"latest": N}`, `"all"`, or a list) and
//! `traffic` (how the route without a version splits its requests).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which versions of a model are served. The default, `latest`, serves the
/// newest registered version and follows new registrations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VersionPolicy {
    /// The newest `n` versions.
    Latest(u32),
    /// Every registered version.
    All,
    /// Exactly these versions.
    Specific(Vec<u32>),
    /// The newest version only (`"latest"`).
    #[default]
    Newest,
}

impl VersionPolicy {
    /// The versions served of `registered` (ascending, any order accepted);
    /// a specific version not registered is left out (the caller says so).
    pub fn select(&self, registered: &[u32]) -> Vec<u32> {
        let mut all = registered.to_vec();
        all.sort_unstable();
        all.dedup();
        match self {
            VersionPolicy::Newest => all.last().copied().into_iter().collect(),
            VersionPolicy::Latest(n) => {
                let keep = (*n as usize).min(all.len());
                all.split_off(all.len() - keep)
            }
            VersionPolicy::All => all,
            VersionPolicy::Specific(list) => all.into_iter().filter(|v| list.contains(v)).collect(),
        }
    }

    /// Whether a new registration can change what is served.
    pub fn follows_registry(&self) -> bool {
        !matches!(self, VersionPolicy::Specific(_))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Wire {
    Word(String),
    Latest { latest: u32 },
    List(Vec<u32>),
}

impl<'de> Deserialize<'de> for VersionPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<VersionPolicy, D::Error> {
        use serde::de::Error;
        let wrong = || {
            D::Error::custom(
                "versions is \"latest\", {\"latest\": N} (N at least 1), \"all\", or a non-empty list of version numbers",
            )
        };
        match Wire::deserialize(deserializer).map_err(|_| wrong())? {
            Wire::Word(word) if word == "latest" => Ok(VersionPolicy::Newest),
            Wire::Word(word) if word == "all" => Ok(VersionPolicy::All),
            Wire::Latest { latest } if latest >= 1 => Ok(VersionPolicy::Latest(latest)),
            Wire::List(list) if !list.is_empty() && !list.contains(&0) => {
                Ok(VersionPolicy::Specific(list))
            }
            _ => Err(wrong()),
        }
    }
}

impl Serialize for VersionPolicy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VersionPolicy::Newest => Wire::Word("latest".into()),
            VersionPolicy::All => Wire::Word("all".into()),
            VersionPolicy::Latest(latest) => Wire::Latest { latest: *latest },
            VersionPolicy::Specific(list) => Wire::List(list.clone()),
        }
        .serialize(serializer)
    }
}

/// `traffic`'s keys as version numbers, with their weights, in version
/// order; the error says which key is wrong.
pub fn parse_traffic(traffic: &BTreeMap<String, u32>) -> Result<Vec<(u32, u32)>, String> {
    let mut split = Vec::with_capacity(traffic.len());
    for (key, weight) in traffic {
        let version = key
            .parse::<u32>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(|| format!("'{key}' is not a version number"))?;
        split.push((version, *weight));
    }
    split.sort_unstable();
    if split.iter().all(|(_, weight)| *weight == 0) {
        return Err("the weights add up to zero; give at least one version a weight".into());
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<VersionPolicy, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn each_form_reads_and_selects() {
        let registered = [3, 1, 2, 5];
        assert_eq!(policy(r#""latest""#).unwrap().select(&registered), [5]);
        assert_eq!(
            policy(r#"{"latest": 2}"#).unwrap().select(&registered),
            [3, 5]
        );
        assert_eq!(
            policy(r#"{"latest": 9}"#).unwrap().select(&registered),
            [1, 2, 3, 5]
        );
        assert_eq!(
            policy(r#""all""#).unwrap().select(&registered),
            [1, 2, 3, 5]
        );
        assert_eq!(policy("[2, 4]").unwrap().select(&registered), [2]);
        for bad in [r#""newest""#, r#"{"latest": 0}"#, "[]", "[0]", "3"] {
            let error = policy(bad).unwrap_err();
            assert!(error.contains("versions is"), "{bad}: {error}");
        }
        let round = serde_json::to_string(&VersionPolicy::Latest(2)).unwrap();
        assert_eq!(round, r#"{"latest":2}"#);
    }

    #[test]
    fn traffic_keys_are_versions() {
        let map = |pairs: &[(&str, u32)]| {
            pairs
                .iter()
                .map(|(k, w)| ((*k).to_owned(), *w))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            parse_traffic(&map(&[("3", 10), ("2", 90)])).unwrap(),
            [(2, 90), (3, 10)]
        );
        assert!(
            parse_traffic(&map(&[("v2", 1)]))
                .unwrap_err()
                .contains("'v2'")
        );
        assert!(
            parse_traffic(&map(&[("2", 0)]))
                .unwrap_err()
                .contains("zero")
        );
    }
}
