//! `depends_on`: names and tags turned into indices; unknown names and cycles refused.

use crate::config::{ConfigError, Planned, Selector};
use crate::probe::Probe;

use super::files::Source;

/// Turns every `depends_on` into indices; unknown names and cycles are config errors.
pub(super) fn resolve_dependencies(
    files: &[Source],
    all_planned: &[(usize, Planned<Probe>)],
) -> Result<Vec<Vec<usize>>, ConfigError> {
    let planned: Vec<&Planned<Probe>> = all_planned.iter().map(|(_, p)| p).collect();
    let mut all = Vec::with_capacity(planned.len());
    for (me, p) in planned.iter().enumerate() {
        let file = &files[all_planned[me].0];
        let mut deps = Vec::new();
        for written in &p.depends_on {
            let selector = Selector::spanned(written).map_err(|why| file.error(written.span(), why))?;
            // A check never depends on itself through a tag it carries.
            let matched: Vec<usize> = selector
                .select(planned.iter().map(|p| &p.meta))
                .into_iter()
                .filter(|&i| i != me || selector.names(&p.meta))
                .collect();
            if matched.is_empty() {
                let others = planned.iter().enumerate().filter(|(i, _)| *i != me).map(|(_, p)| &p.meta);
                return Err(file.error(written.span(), selector.nothing_selected(others, "depends_on")));
            }
            for d in matched {
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
        }
        all.push(deps);
    }
    if let Some(cycle) = find_cycle(&all) {
        let names: Vec<&str> = cycle.iter().map(|&i| planned[i].meta.name.as_str()).collect();
        let at = planned[cycle[0]].depends_on.first().map_or(planned[cycle[0]].name_span.clone(), |d| d.span());
        return Err(files[all_planned[cycle[0]].0].error(at, format!("dependency cycle: {}", names.join(" -> "))));
    }
    Ok(all)
}

/// A cycle in the dependency graph, as a path that ends where it starts.
fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    for start in 0..deps.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, next edge to follow).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some(&mut (node, ref mut edge)) = path.last_mut() {
            if let Some(&next) = deps[node].get(*edge) {
                *edge += 1;
                match mark[next] {
                    Mark::New => {
                        mark[next] = Mark::Open;
                        path.push((next, 0));
                    }
                    Mark::Open => {
                        let from = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(next);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                path.pop();
            }
        }
    }
    None
}
