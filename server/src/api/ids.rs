//! Ids the server makes for new objects: `{prefix}_{millis as 11 hex}{8 random hex}`, so ids of
//! one kind sort by creation time (pages of notifications rely on it), and class codes: six
//! characters of the alphabet personal link codes use too (`roblox::link::CODE_ALPHABET`: no
//! 0/O, 1/I/L), easy to type in a game.

use std::time::{SystemTime, UNIX_EPOCH};

/// A new id such as `cls_0193a1b2c3d4e5f6a7b8`.
pub fn new_id(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    format!("{prefix}_{millis:011x}{:08x}", rand::random::<u32>())
}

/// A new class code.
pub fn new_class_code() -> String {
    roblox::link::new_code(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_and_codes_avoid_look_alikes() {
        let first = new_id("ntf");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("ntf");
        assert!(first < second, "{first} < {second}");
        assert_eq!(first.len(), "ntf_".len() + 19);
        let code = new_class_code();
        assert_eq!(code.len(), 6);
        assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
    }
}
