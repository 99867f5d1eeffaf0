//! Demo notices (周知事項) and board threads, so a newcomer finds the secretariat's and the
//! core hospital's notices and a few discussions of network business. Times are relative
//! to `now` (the demo's start), so the notices are current whenever the demo runs; the
//! content is fixed. No patient appears in any of it.

use renkei_domain::Millis;
use renkei_storage::notices::{importance, scope, BoardPost, BoardThread, BoardTopic, Notice};

use crate::DemoNetwork;

const HOUR: Millis = 3600 * 1000;
const DAY: Millis = 24 * HOUR;

/// (topic id, title, posts as (login, text) with the opening post first, how long ago it
/// was opened).
type DemoThread<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Millis);

/// What the demo stores besides the network.
#[derive(Debug, Clone, Default)]
pub struct DemoNotices {
    pub notices: Vec<Notice>,
    /// (notice id, user id, read at): staff who already opened a notice.
    pub reads: Vec<(String, String, Millis)>,
    pub topics: Vec<BoardTopic>,
    /// Each thread with its opening post first, then its replies in order.
    pub threads: Vec<(BoardThread, Vec<BoardPost>)>,
}

/// A featured account: (user id, its first facility).
fn account(network: &DemoNetwork, login: &str) -> Option<(String, Option<String>)> {
    network
        .import
        .users
        .iter()
        .find(|u| u.login_id == login)
        .map(|u| (u.id.clone(), u.memberships.first().map(|(f, _)| f.clone())))
}

/// The demo's notices and board, or nothing when the featured accounts are missing.
pub fn generate(network: &DemoNetwork, now: Millis) -> DemoNotices {
    let mut out = DemoNotices::default();
    let (Some(sec), Some(admin)) = (
        account(network, "secretariat"),
        account(network, "facility.admin"),
    ) else {
        return out;
    };
    let hospital = admin.1.clone();
    let mut n = 0;
    let mut notice = |author: &(String, Option<String>),
                      facility: Option<&String>,
                      title: &str,
                      body: &str,
                      important: bool,
                      published: Millis,
                      expires: Option<Millis>| {
        n += 1;
        Notice {
            id: format!("demo-notice-{n:02}"),
            scope: if facility.is_some() {
                scope::FACILITY
            } else {
                scope::NETWORK
            }
            .to_string(),
            facility_id: facility.cloned(),
            author_user_id: author.0.clone(),
            author_facility_id: author.1.clone(),
            title: title.to_string(),
            body: body.to_string(),
            importance: if important {
                importance::IMPORTANT
            } else {
                importance::NORMAL
            }
            .to_string(),
            published_at: published,
            expires_at: expires,
            created_at: published,
            edited_at: None,
            withdrawn_at: None,
            withdrawn_by: None,
        }
    };
    out.notices.push(notice(
        &sec,
        None,
        "【重要】定期メンテナンスによる停止のお知らせ",
        "平素より地域連携ネットワークをご利用いただきありがとうございます。\n\n\
         定期メンテナンスのため、次の日曜日 2:00〜5:00 の間、システムを停止します。\n\
         停止中は閲覧・投稿ができません。救急時の情報確認は、従来どおり電話でお問い合わせください。\n\n\
         ご不便をおかけしますが、ご協力をお願いいたします。\n\
         ネットワーク事務局（内線 2100）",
        true,
        now - 2 * HOUR,
        Some(now + 10 * DAY),
    ));
    out.notices.push(notice(
        &sec,
        None,
        "第3回 多職種連携研修会の開催について",
        "テーマ：退院支援における情報共有 ― 入院時情報提供書と退院時カンファレンス\n\
         会場：市立病院 講堂（オンライン同時配信あり）\n\
         対象：医師・看護師・介護支援専門員・薬剤師・訪問看護師ほか全職種\n\n\
         参加を希望される方は、掲示板「多職種研修会」のスレッドに施設名と人数をお書きください。",
        false,
        now - 3 * DAY,
        None,
    ));
    out.notices.push(notice(
        &sec,
        None,
        "同意書の様式を改訂しました（第2版）",
        "患者さんの同意書（包括同意）の様式を改訂しました。\n\
         主な変更点：共有から除外する情報区分を選べる欄を追加しました。\n\
         旧様式で取得した同意は引き続き有効です。",
        false,
        now - 12 * DAY,
        None,
    ));
    out.notices.push(notice(
        &sec,
        None,
        "年末年始の事務局窓口について",
        "年末年始は事務局窓口を休止しました。（掲載期限切れの例）",
        false,
        now - 40 * DAY,
        Some(now - 20 * DAY),
    ));
    if let Some(h) = &hospital {
        out.notices.push(notice(
            &admin,
            Some(h),
            "地域医療連携室の内線番号が変わりました",
            "本日より地域医療連携室の内線番号が 3150 から 3210 に変わりました。\n\
             紹介状・退院調整のお問い合わせは新しい番号へお願いします。",
            true,
            now - 5 * HOUR,
            None,
        ));
        out.notices.push(notice(
            &admin,
            Some(h),
            "退院前カンファレンスの会議室予約について",
            "退院前カンファレンスで会議室を使う場合は、2日前までに連携室へご連絡ください。\n\
             オンライン参加の在宅側スタッフには、前日までに接続先をお知らせします。",
            false,
            now - 6 * DAY,
            None,
        ));
        // The nurse has read the older facility notice; the doctor has not.
        if let Some((nurse, _)) = account(network, "hospital.nurse") {
            out.reads
                .push(("demo-notice-06".into(), nurse, now - 5 * DAY));
        }
    }

    let topic = |id: &str, title: &str, description: &str, order: i64| BoardTopic {
        id: id.to_string(),
        title: title.to_string(),
        description: description.to_string(),
        sort_order: order,
        created_by: sec.0.clone(),
        created_at: now - 60 * DAY,
        edited_at: None,
        archived_at: None,
        archived_by: None,
    };
    out.topics = vec![
        topic(
            "demo-topic-discharge",
            "入退院支援",
            "入院時情報提供・退院調整・カンファレンスの進め方について",
            10,
        ),
        topic(
            "demo-topic-training",
            "多職種研修会",
            "研修会の案内・参加申込・感想",
            20,
        ),
        topic(
            "demo-topic-howto",
            "システムの使い方",
            "操作方法の質問と回答",
            30,
        ),
        // Last year's meetings: archived by the secretariat, kept readable.
        BoardTopic {
            archived_at: Some(now - 10 * DAY),
            archived_by: Some(sec.0.clone()),
            ..topic(
                "demo-topic-council-2025",
                "2025年度 連携推進会議",
                "2025年度の在宅医療・介護連携推進会議の議事録と質疑（年度終了のためアーカイブ）",
                90,
            )
        },
    ];
    let threads: [DemoThread; 4] = [
        (
            "demo-topic-discharge",
            "入院時情報提供書の送付タイミングについて",
            &[
                ("caremanager", "入院当日に情報提供書を送る場合、病棟と連携室のどちらに送ると確実でしょうか。各病院の運用を教えてください。"),
                ("hospital.nurse", "当院では連携室で受けて病棟に回しています。夜間・休日の入院は翌朝に連携室が確認します。"),
                ("homenurse", "訪問看護からも同じ宛先で送っています。送付後に電話を一本入れると確実でした。"),
            ],
            30 * HOUR,
        ),
        (
            "demo-topic-training",
            "次回研修会のテーマ募集",
            &[
                ("secretariat", "次回の多職種連携研修会で取り上げてほしいテーマを募集します。"),
                ("clinic.doctor", "在宅での看取りに向けた ACP の話し合いの進め方を希望します。"),
                ("pharmacist", "退院時の服薬情報の引き継ぎ（お薬手帳との使い分け）を取り上げていただけると助かります。"),
            ],
            4 * DAY,
        ),
        (
            "demo-topic-howto",
            "タブレットで写真を添付する方法",
            &[
                ("homenurse", "訪問先のタブレットからタイムラインに写真を添付する手順を教えてください。"),
                ("secretariat", "投稿欄の「添付ファイル」からカメラを選べます。撮影位置などの情報は保存時に自動で削除されます。"),
            ],
            8 * DAY,
        ),
        (
            "demo-topic-council-2025",
            "第4回 連携推進会議の議事録",
            &[
                ("secretariat", "第4回 在宅医療・介護連携推進会議（3月開催）の議事録を掲載します。主な議題：入退院支援ルールの見直し、ICT 連携の利用状況、来年度の研修計画。"),
                ("facility.admin", "確認しました。入退院支援ルールの改訂版は当院の連携室にも周知します。"),
            ],
            40 * DAY,
        ),
    ];
    for (i, (topic_id, title, posts, ago)) in threads.iter().enumerate() {
        let thread_id = format!("demo-thread-{:02}", i + 1);
        let mut rows = Vec::new();
        for (j, (login, body)) in posts.iter().enumerate() {
            let Some((user, facility)) = account(network, login) else {
                continue;
            };
            rows.push(BoardPost {
                id: format!("{thread_id}-post-{:02}", j + 1),
                thread_id: thread_id.clone(),
                opening: rows.is_empty(),
                author_user_id: user,
                author_facility_id: facility,
                body: body.to_string(),
                created_at: now - ago + (j as Millis) * 3 * HOUR,
                edited_at: None,
                withdrawn_at: None,
                hidden_at: None,
                hidden_by: None,
                hidden_reason: None,
            });
        }
        let Some(first) = rows.first() else { continue };
        out.threads.push((
            BoardThread {
                id: thread_id.clone(),
                topic_id: topic_id.to_string(),
                title: title.to_string(),
                author_user_id: first.author_user_id.clone(),
                author_facility_id: first.author_facility_id.clone(),
                created_at: first.created_at,
                last_activity_at: rows
                    .last()
                    .map(|p| p.created_at)
                    .unwrap_or(first.created_at),
            },
            rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_notices_of_both_scopes_and_threads_with_replies() {
        let network = crate::generate(&crate::DemoOptions {
            seed: 7,
            password_hash: String::new(),
            totp_secret: String::new(),
        });
        let now = 1_800_000_000_000;
        let d = generate(&network, now);
        assert_eq!(d.notices.len(), 6);
        assert!(d
            .notices
            .iter()
            .any(|n| n.facility_id.is_some() && n.is_important()));
        assert!(d
            .notices
            .iter()
            .any(|n| n.facility_id.is_none() && n.is_current(now) && n.is_important()));
        assert!(
            d.notices.iter().any(|n| !n.is_current(now)),
            "one expired example"
        );
        assert_eq!(d.topics.len(), 4);
        assert_eq!(d.threads.len(), 4);
        let archived: Vec<_> = d.topics.iter().filter(|t| t.is_archived()).collect();
        assert_eq!(archived.len(), 1, "one archived topic, with its thread");
        assert!(d
            .threads
            .iter()
            .any(|(t, posts)| t.topic_id == archived[0].id
                && posts.last().unwrap().created_at < archived[0].archived_at.unwrap()));
        for (t, posts) in &d.threads {
            assert!(posts[0].opening && posts[1..].iter().all(|p| !p.opening));
            assert!(posts.len() >= 2, "{}", t.title);
            assert_eq!(t.last_activity_at, posts.last().unwrap().created_at);
            assert!(d.topics.iter().any(|tp| tp.id == t.topic_id));
        }
        assert_eq!(d.reads.len(), 1);
    }
}
