//! `#[derive(SessionData)]`: what the generated impl reads from and writes to a session record.

use actix_typed_session::{
    __private::{ChangeSet, Fields},
    SessionData,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(SessionData, Debug, PartialEq)]
#[session(rename_all = "camelCase")]
struct Visit {
    views: u32,
    #[session(rename = "uid")]
    user_id: Option<u64>,
    last_page: String,
    #[session(skip)]
    scratch: Vec<u8>,
    #[session(default = "default_theme")]
    theme: String,
    #[session(skip, default = "default_scratch_len")]
    scratch_len: usize,
    r#type: u8,
}

fn default_theme() -> String {
    "dark".to_owned()
}

fn default_scratch_len() -> usize {
    64
}

/// A record's fields, from (name, JSON) pairs.
fn fields(pairs: &[(&str, &str)]) -> Fields {
    let mut fields = Fields::default();
    for (name, json) in pairs {
        fields.set(name, RawValue::from_string((*json).to_owned()).unwrap());
    }
    fields
}

/// The changes as (name, JSON or `None` for a removal).
#[track_caller]
fn diff<T: SessionData>(value: &T, stored: &Fields) -> Vec<(String, Option<String>)> {
    let mut changes = ChangeSet::new();
    value.__diff(stored, &mut changes).unwrap();
    changes
        .iter()
        .map(|(name, json)| (name.to_owned(), json.map(|json| json.get().to_owned())))
        .collect()
}

fn set(name: &str, json: &str) -> (String, Option<String>) {
    (name.to_owned(), Some(json.to_owned()))
}

#[test]
fn missing_fields_decode_to_their_defaults() {
    let visit = Visit::__decode(&Fields::default()).unwrap();
    assert_eq!(
        visit,
        Visit {
            views: 0,
            user_id: None,
            last_page: String::new(),
            scratch: Vec::new(),
            theme: "dark".to_owned(),
            scratch_len: 64,
            r#type: 0,
        }
    );
}

#[test]
fn fields_are_read_from_their_stored_names() {
    let stored = fields(&[
        ("views", "3"),
        ("uid", "7"),
        ("lastPage", "\"/cart\""),
        ("theme", "\"light\""),
        ("type", "2"),
    ]);
    let visit = Visit::__decode(&stored).unwrap();
    assert_eq!(visit.views, 3);
    assert_eq!(visit.user_id, Some(7));
    assert_eq!(visit.last_page, "/cart");
    assert_eq!(visit.theme, "light");
    assert_eq!(visit.r#type, 2);
}

#[test]
fn rust_names_are_not_read_when_a_field_is_renamed() {
    let stored = fields(&[("user_id", "7"), ("userId", "8"), ("last_page", "\"/\"")]);
    let visit = Visit::__decode(&stored).unwrap();
    assert_eq!(visit.user_id, None);
    assert_eq!(visit.last_page, "");
}

#[test]
fn fields_are_written_under_their_stored_names() {
    let visit = Visit {
        views: 1,
        user_id: Some(7),
        last_page: "/cart".to_owned(),
        scratch: vec![1, 2, 3],
        theme: "light".to_owned(),
        scratch_len: 3,
        r#type: 2,
    };
    assert_eq!(
        diff(&visit, &Fields::default()),
        [
            set("views", "1"),
            set("uid", "7"),
            set("lastPage", "\"/cart\""),
            set("theme", "\"light\""),
            set("type", "2"),
        ]
    );
}

#[test]
fn skipped_fields_are_never_read_or_written() {
    let stored = fields(&[
        ("scratch", "[9]"),
        ("scratchLen", "1"),
        ("scratch_len", "1"),
    ]);
    let mut visit = Visit::__decode(&stored).unwrap();
    assert_eq!((visit.scratch.as_slice(), visit.scratch_len), (&[][..], 64));
    visit.scratch = vec![1];
    visit.scratch_len = 1;
    assert_eq!(diff(&visit, &stored), []);
}

#[test]
fn a_value_equal_to_the_default_path_is_not_written() {
    let mut visit = Visit::__decode(&Fields::default()).unwrap();
    assert_eq!(diff(&visit, &Fields::default()), []);
    visit.theme = "light".to_owned();
    assert_eq!(
        diff(&visit, &Fields::default()),
        [set("theme", "\"light\"")]
    );
}

#[test]
fn only_changed_fields_are_recorded() {
    let stored = fields(&[("views", "3"), ("uid", "7"), ("theme", "\"dark\"")]);
    let mut visit = Visit::__decode(&stored).unwrap();
    assert_eq!(diff(&visit, &stored), []);
    visit.views += 1;
    assert_eq!(diff(&visit, &stored), [set("views", "4")]);
    visit.user_id = None;
    assert_eq!(
        diff(&visit, &stored),
        [set("views", "4"), ("uid".to_owned(), None)]
    );
}

#[test]
fn a_decode_error_names_the_stored_field() {
    let stored = fields(&[("views", "1"), ("uid", "\"seven\"")]);
    let error = Visit::__decode(&stored).unwrap_err();
    assert_eq!(error.field(), "uid");
    assert!(error.to_string().contains("`uid`"), "{error}");
}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Cart {
    items: Vec<String>,
}

#[derive(SessionData)]
struct Tagged<T, const N: usize> {
    value: T,
    history: [u16; N],
    #[session(skip)]
    _marker: std::marker::PhantomData<T>,
}

#[test]
fn generic_structs_decode_and_diff() {
    let stored = fields(&[("value", r#"{"items":["tea"]}"#), ("history", "[1,2]")]);
    let mut tagged = Tagged::<Cart, 2>::__decode(&stored).unwrap();
    assert_eq!(tagged.value.items, ["tea"]);
    assert_eq!(tagged.history, [1, 2]);
    tagged.value.items.push("milk".to_owned());
    assert_eq!(
        diff(&tagged, &stored),
        [set("value", r#"{"items":["tea","milk"]}"#)]
    );

    let empty = Tagged::<Option<String>, 3>::__decode(&Fields::default()).unwrap();
    assert_eq!((empty.value, empty.history), (None, [0; 3]));
}

mod rename_all {
    use super::*;

    #[derive(SessionData, Default)]
    #[session(rename_all = "lowercase")]
    struct Lower {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "UPPERCASE")]
    struct Upper {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "PascalCase")]
    struct Pascal {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "camelCase")]
    struct Camel {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "snake_case")]
    struct Snake {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "SCREAMING_SNAKE_CASE")]
    struct ScreamingSnake {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "kebab-case")]
    struct Kebab {
        user_id: u8,
    }
    #[derive(SessionData, Default)]
    #[session(rename_all = "SCREAMING-KEBAB-CASE")]
    struct ScreamingKebab {
        user_id: u8,
    }

    /// The name `T` stores its one field under: the one it changes, from 5 to its default 0,
    /// when every candidate name holds 5.
    fn stored_name<T: SessionData + Default>() -> String {
        let stored = fields(&[
            ("user_id", "5"),
            ("USER_ID", "5"),
            ("UserId", "5"),
            ("userId", "5"),
            ("user-id", "5"),
            ("USER-ID", "5"),
        ]);
        let changes = diff(&T::default(), &stored);
        match &changes[..] {
            [(name, Some(json))] if json == "0" => name.clone(),
            _ => panic!("expected one field set to 0, got {changes:?}"),
        }
    }

    #[test]
    fn every_serde_case_is_supported() {
        assert_eq!(stored_name::<Lower>(), "user_id");
        assert_eq!(stored_name::<Upper>(), "USER_ID");
        assert_eq!(stored_name::<Pascal>(), "UserId");
        assert_eq!(stored_name::<Camel>(), "userId");
        assert_eq!(stored_name::<Snake>(), "user_id");
        assert_eq!(stored_name::<ScreamingSnake>(), "USER_ID");
        assert_eq!(stored_name::<Kebab>(), "user-id");
        assert_eq!(stored_name::<ScreamingKebab>(), "USER-ID");
    }
}
