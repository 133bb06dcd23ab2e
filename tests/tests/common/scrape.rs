//! Reading numbers out of the Prometheus text exposition.

/// The value of the series `name` whose labels include all of `labels`;
/// panics when there is none, or more than one.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let pairs: Vec<(&str, &str)> = series_labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            labels
                .iter()
                .all(|l| pairs.contains(l))
                .then(|| value.parse().unwrap())
        })
        .collect();
    match found.as_slice() {
        [one] => *one,
        _ => panic!("{} series {name}{labels:?} in\n{text}", found.len()),
    }
}
