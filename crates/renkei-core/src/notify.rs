//! Who a timeline post notifies, and `@mentions` in its text.
//!
//! A post notifies only members of the patient's care team: users with an active
//! membership in a facility that is an active member of the team (and is itself active).
//! `@login` names one of them, `@facility-name` (or `@facility-code`) every member of that
//! facility; a reply notifies the author of the post it answers; an urgent post notifies
//! the whole team. The author is never notified of their own post, and each recipient gets
//! one notification per post (the most specific kind: mention, then reply, then urgent).
//! Anything that does not resolve to the team — an outsider's login, another facility's
//! name — is plain text and notifies nobody.

use renkei_domain::patient::TeamStatus;
use renkei_domain::{FacilityStatus, Millis};
use renkei_storage::notifications::{kind, Notification};
use renkei_storage::{Store, StoreResult};
use std::collections::BTreeMap;
use unicode_normalization::UnicodeNormalization;

/// A member of the care team who can be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamUser {
    pub user_id: String,
    pub login_id: String,
    pub display_name: String,
    pub facility_id: String,
}

/// A facility of the care team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamFacility {
    pub facility_id: String,
    pub name: String,
    pub code: Option<String>,
}

/// Everyone a post about one person may name or notify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamDirectory {
    pub users: Vec<TeamUser>,
    pub facilities: Vec<TeamFacility>,
}

/// What an `@` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mentioned {
    User(usize),
    Facility(usize),
}

/// A piece of a line of post text: plain text or a resolved mention (its text includes `@`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub mention: Option<Mentioned>,
}

/// Folded form of a facility name for matching: NFKC, no spaces, lower case.
fn fold(s: &str) -> String {
    s.nfkc()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn login_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl TeamDirectory {
    /// The active members of the person's care team (merges followed by storage).
    pub async fn load(store: &dyn Store, person_id: &str) -> StoreResult<TeamDirectory> {
        let mut dir = TeamDirectory::default();
        for member in store.team_members(person_id).await? {
            if member.status != TeamStatus::Active {
                continue;
            }
            let Some(facility) = store.get_facility(&member.facility_id).await? else {
                continue;
            };
            if facility.status != FacilityStatus::Active
                || dir.facilities.iter().any(|f| f.facility_id == facility.id)
            {
                continue;
            }
            for (user, membership) in store.facility_members(&facility.id).await? {
                if user.active && membership.active {
                    dir.users.push(TeamUser {
                        user_id: user.id,
                        login_id: user.login_id,
                        display_name: user.display_name,
                        facility_id: facility.id.clone(),
                    });
                }
            }
            dir.facilities.push(TeamFacility {
                facility_id: facility.id,
                name: facility.name,
                code: facility.code,
            });
        }
        Ok(dir)
    }

    /// Whether the user is a member of the team.
    pub fn has_user(&self, user_id: &str) -> bool {
        self.users.iter().any(|u| u.user_id == user_id)
    }

    /// The mention starting right after an `@` in `rest`, with its length in bytes: the
    /// longest login ID (case-insensitive, not followed by another login character) or
    /// facility name (spaces and width ignored) or facility code that `rest` starts with.
    fn resolve(&self, rest: &str) -> Option<(Mentioned, usize)> {
        let mut best: Option<(Mentioned, usize)> = None;
        let mut consider = |m: Mentioned, len: usize| {
            if best.as_ref().is_none_or(|(_, l)| len > *l) {
                best = Some((m, len));
            }
        };
        for (i, u) in self.users.iter().enumerate() {
            let n = u.login_id.len();
            if n > 0
                && rest.len() >= n
                && rest.is_char_boundary(n)
                && rest[..n].eq_ignore_ascii_case(&u.login_id)
                && !rest[n..].chars().next().is_some_and(login_char)
            {
                consider(Mentioned::User(i), n);
            }
        }
        for (i, f) in self.facilities.iter().enumerate() {
            let want = fold(&f.name);
            if !want.is_empty() {
                // Walk `rest` until its folded prefix covers the folded name.
                let mut folded = String::new();
                for (pos, c) in rest.char_indices() {
                    folded.push_str(&fold(&c.to_string()));
                    if folded.len() >= want.len() {
                        if folded == want {
                            consider(Mentioned::Facility(i), pos + c.len_utf8());
                        }
                        break;
                    }
                    if !want.starts_with(&folded) {
                        break;
                    }
                }
            }
            if let Some(code) = f.code.as_deref().filter(|c| !c.is_empty()) {
                let n = code.len();
                if rest.len() >= n
                    && rest.is_char_boundary(n)
                    && rest[..n].eq_ignore_ascii_case(code)
                    && !rest[n..].chars().next().is_some_and(login_char)
                {
                    consider(Mentioned::Facility(i), n);
                }
            }
        }
        best
    }

    /// One line of text cut into plain text and resolved mentions.
    pub fn segments(&self, line: &str) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        let mut plain = String::new();
        let mut i = 0;
        while i < line.len() {
            let rest = &line[i..];
            let c = rest.chars().next().expect("not at the end");
            if c == '@' || c == '＠' {
                if let Some((m, len)) = self.resolve(&rest[c.len_utf8()..]) {
                    if !plain.is_empty() {
                        out.push(Segment {
                            text: std::mem::take(&mut plain),
                            mention: None,
                        });
                    }
                    let end = c.len_utf8() + len;
                    out.push(Segment {
                        text: rest[..end].to_string(),
                        mention: Some(m),
                    });
                    i += end;
                    continue;
                }
            }
            plain.push(c);
            i += c.len_utf8();
        }
        if !plain.is_empty() {
            out.push(Segment {
                text: plain,
                mention: None,
            });
        }
        out
    }

    /// The users a text names: mentioned users and every member of mentioned facilities.
    pub fn mentioned_users(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in text.lines() {
            for s in self.segments(line) {
                match s.mention {
                    Some(Mentioned::User(i)) => out.push(self.users[i].user_id.clone()),
                    Some(Mentioned::Facility(i)) => {
                        let id = &self.facilities[i].facility_id;
                        out.extend(
                            self.users
                                .iter()
                                .filter(|u| &u.facility_id == id)
                                .map(|u| u.user_id.clone()),
                        );
                    }
                    None => {}
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A new timeline post, as far as notifications care.
pub struct PostFacts<'a> {
    pub person_id: &'a str,
    pub post_id: &'a str,
    pub author_user_id: &'a str,
    pub author_facility_id: &'a str,
    pub text: &'a str,
    pub urgent: bool,
    /// The sender of the post this one replies to.
    pub reply_to_sender: Option<&'a str>,
    pub at: Millis,
}

/// The notifications a post causes (to be stored with it).
pub fn for_post(dir: &TeamDirectory, post: &PostFacts<'_>) -> Vec<Notification> {
    // Most specific kind wins: mention, then reply, then urgent.
    let mut kinds: BTreeMap<String, &'static str> = BTreeMap::new();
    if post.urgent {
        for u in &dir.users {
            kinds.insert(u.user_id.clone(), kind::URGENT);
        }
    }
    if let Some(parent) = post.reply_to_sender.filter(|p| dir.has_user(p)) {
        kinds.insert(parent.to_string(), kind::REPLY);
    }
    for u in dir.mentioned_users(post.text) {
        kinds.insert(u, kind::MENTION);
    }
    kinds.remove(post.author_user_id);
    kinds
        .into_iter()
        .map(|(user_id, k)| Notification {
            id: uuid::Uuid::new_v4().to_string(),
            user_id,
            kind: k.to_string(),
            person_id: Some(post.person_id.to_string()),
            actor_user_id: Some(post.author_user_id.to_string()),
            actor_facility_id: Some(post.author_facility_id.to_string()),
            source_id: Some(post.post_id.to_string()),
            link: format!(
                "/patients/{}/timeline#post-{}",
                post.person_id, post.post_id
            ),
            created_at: post.at,
            read_at: None,
        })
        .collect()
}

/// The live-event topic of unread counts.
pub const EVENT_TOPIC: &str = "notify";

/// Event payloads carrying unread counts (`;user=count` repeated), each within the event
/// size limit. Ids and numbers only: never patient data.
pub fn count_payloads(counts: &[(String, i64)]) -> Vec<String> {
    let limit = renkei_storage::MAX_EVENT_PAYLOAD - EVENT_TOPIC.len() - 1;
    let mut out = Vec::new();
    let mut current = String::new();
    for (user, n) in counts {
        let entry = format!(";{user}={n}");
        if current.len() + entry.len() > limit && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(&entry);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The count a payload carries for one user, if any.
pub fn count_for(payload: &str, user_id: &str) -> Option<i64> {
    let key = format!(";{user_id}=");
    let at = payload.find(&key)? + key.len();
    let digits: &str = payload[at..].split(';').next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> TeamDirectory {
        TeamDirectory {
            users: vec![
                TeamUser {
                    user_id: "u1".into(),
                    login_id: "doctor1".into(),
                    display_name: "医師".into(),
                    facility_id: "f1".into(),
                },
                TeamUser {
                    user_id: "u2".into(),
                    login_id: "doctor10".into(),
                    display_name: "医師10".into(),
                    facility_id: "f1".into(),
                },
                TeamUser {
                    user_id: "u3".into(),
                    login_id: "otherdoc".into(),
                    display_name: "他院".into(),
                    facility_id: "f2".into(),
                },
            ],
            facilities: vec![
                TeamFacility {
                    facility_id: "f1".into(),
                    name: "テスト 総合病院".into(),
                    code: Some("F00001".into()),
                },
                TeamFacility {
                    facility_id: "f2".into(),
                    name: "第二病院".into(),
                    code: Some("F00002".into()),
                },
            ],
        }
    }

    #[test]
    fn mentions_resolve_to_the_team_only() {
        let d = dir();
        assert_eq!(d.mentioned_users("@doctor1さん確認を"), vec!["u1"]);
        assert_eq!(d.mentioned_users("@Doctor10 and @nobody"), vec!["u2"]);
        assert_eq!(d.mentioned_users("@doctor1x"), Vec::<String>::new());
        assert_eq!(d.mentioned_users("mail a@doctor1"), vec!["u1"]);
        assert_eq!(d.mentioned_users("＠第二病院へ"), vec!["u3"]);
        assert_eq!(
            d.mentioned_users("@テスト総合病院 @f00002"),
            vec!["u1", "u2", "u3"]
        );
        assert!(d.mentioned_users("@第三病院").is_empty());
        let s = d.segments("確認 @otherdoc です");
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].text, "@otherdoc");
        assert_eq!(s[1].mention, Some(Mentioned::User(2)));
    }

    #[test]
    fn kinds_and_recipients() {
        let d = dir();
        let post = PostFacts {
            person_id: "p",
            post_id: "c1",
            author_user_id: "u1",
            author_facility_id: "f1",
            text: "@otherdoc @doctor1",
            urgent: true,
            reply_to_sender: Some("outsider"),
            at: 1,
        };
        let n = for_post(&d, &post);
        let got: Vec<(&str, &str)> = n
            .iter()
            .map(|n| (n.user_id.as_str(), n.kind.as_str()))
            .collect();
        assert_eq!(got, vec![("u2", "urgent"), ("u3", "mention")]);
        assert_eq!(n[0].link, "/patients/p/timeline#post-c1");
        let reply = PostFacts {
            urgent: false,
            reply_to_sender: Some("u2"),
            text: "ok",
            ..post
        };
        let n = for_post(&d, &reply);
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].user_id.as_str(), n[0].kind.as_str()), ("u2", "reply"));
    }

    #[test]
    fn payloads_split_and_parse() {
        let counts: Vec<(String, i64)> = (0..1000)
            .map(|i| (format!("{:036}", i), i as i64))
            .collect();
        let payloads = count_payloads(&counts);
        assert!(payloads.len() > 1);
        assert!(payloads
            .iter()
            .all(|p| p.len() + EVENT_TOPIC.len() < renkei_storage::MAX_EVENT_PAYLOAD));
        let found: Vec<i64> = counts
            .iter()
            .filter_map(|(u, _)| payloads.iter().find_map(|p| count_for(p, u)))
            .collect();
        assert_eq!(found, (0..1000).collect::<Vec<i64>>());
        assert_eq!(count_for(";a=1;ab=2", "ab"), Some(2));
        assert_eq!(count_for(";a=1", "b"), None);
    }
}
