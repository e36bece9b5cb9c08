//! What a browser posted, before any validation.

use crate::files::FileRef;

/// The posted form fields as ordered `(key, value)` pairs. Keys may repeat
/// (a group of checkboxes posts one pair per ticked box), so this is not a
/// map. Values are kept exactly as posted; normalisation happens in
/// validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawInput {
    pairs: Vec<(String, String)>,
    /// Files already sealed for file fields, by field name: the counter
    /// streams uploads into the vault and puts their references here.
    files: Vec<(String, FileRef)>,
}

impl RawInput {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        RawInput { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), files: Vec::new() }
    }

    /// Appends one pair (keeps earlier pairs with the same key).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// The first value posted for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value posted for `key`, in posted order.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Adds a sealed file to field `field`.
    pub fn push_file(&mut self, field: impl Into<String>, file: FileRef) {
        self.files.push((field.into(), file));
    }

    /// The sealed files of field `field`, in the order added.
    pub fn files(&self, field: &str) -> Vec<&FileRef> {
        self.files.iter().filter(|(k, _)| k == field).map(|(_, f)| f).collect()
    }

    /// Drops the file `id` of field `field`; true when it was there.
    pub fn remove_file(&mut self, field: &str, id: &str) -> bool {
        let before = self.files.len();
        self.files.retain(|(k, f)| !(k == field && f.id == id));
        self.files.len() != before
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RawInput {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        RawInput::from_pairs(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_their_order() {
        let input = RawInput::from_pairs([("a", "1"), ("b", "2"), ("a", "3")]);
        assert_eq!(input.get("a"), Some("1"));
        assert_eq!(input.get_all("a"), vec!["1", "3"]);
        assert_eq!(input.get("c"), None);
        assert!(input.get_all("c").is_empty());
        assert_eq!(input.pairs().len(), 3);
    }

    #[test]
    fn push_appends() {
        let mut input = RawInput::new();
        assert!(input.is_empty());
        input.push("a", "1");
        input.push("a", "2");
        assert_eq!(input.get_all("a"), vec!["1", "2"]);
    }
}
