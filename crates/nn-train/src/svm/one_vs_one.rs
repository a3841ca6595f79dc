//! One against one: a binary problem for each pair of classes, and a vote of their decisions.

/// The pairs `(a, b)`, `a < b`, of `classes` classes in libsvm's order: `(0, 1), (0, 2), …,
/// (0, k−1), (1, 2), …`.
pub(crate) fn pairs(classes: usize) -> Vec<(usize, usize)> {
    (0..classes).flat_map(|a| (a + 1..classes).map(move |b| (a, b))).collect()
}

/// The class that wins the vote of `decisions` (one per pair of [`pairs`]): each pair `(a, b)`
/// votes `a` when its decision value is positive, `b` otherwise; the most votes win, the lowest
/// class on ties (libsvm's rule).
pub(crate) fn vote(pairs: &[(usize, usize)], decisions: &[f64], votes: &mut [u32]) -> usize {
    votes.fill(0);
    for (&(a, b), &decision) in pairs.iter().zip(decisions) {
        votes[if decision > 0.0 { a } else { b }] += 1;
    }
    let mut winner = 0;
    for (class, &count) in votes.iter().enumerate() {
        if count > votes[winner] {
            winner = class;
        }
    }
    winner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_in_libsvm_order_and_ties_go_to_the_lowest_class() {
        let pairs = pairs(4);
        assert_eq!(pairs, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
        let mut votes = [0; 4];
        // 2 beats 0, 1 and 3.
        assert_eq!(vote(&pairs, &[1.0, -1.0, 1.0, -1.0, 1.0, 1.0], &mut votes), 2);
        assert_eq!(votes, [2, 1, 3, 0]);
        // A decision of 0 votes for the second class.
        assert_eq!(vote(&pairs, &[0.0; 6], &mut votes), 3);
        // 0 beats 1, 1 beats 2, 2 beats 0, 3 loses to all: three classes tie, the lowest wins.
        assert_eq!(vote(&pairs, &[1.0, -1.0, 1.0, 1.0, 1.0, 1.0], &mut votes), 0);
        assert_eq!(votes, [2, 2, 2, 0]);
    }
}
