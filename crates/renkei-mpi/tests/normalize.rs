use renkei_mpi::normalize::*;
use renkei_mpi::{BirthDate, MatchKeys, PersonRecord, PreviousName};

#[test]
fn kanji_variants_fold_to_standard_forms() {
    assert_eq!(fold_kanji("渡邊"), "渡辺");
    assert_eq!(fold_kanji("渡邉"), "渡辺");
    assert_eq!(fold_kanji("髙橋"), "高橋");
    assert_eq!(fold_kanji("山﨑"), "山崎");
    assert_eq!(fold_kanji("𠮷田"), "吉田");
    assert_eq!(fold_kanji("齋藤"), "斎藤");
    assert_eq!(fold_kanji("濱田"), "浜田");
    assert_eq!(fold_kanji("嶋田"), "島田");
    // 斉 and 斎 are distinct characters: only the loose level merges them.
    assert_eq!(fold_kanji("斉藤"), "斉藤");
    assert_eq!(fold_kanji_loose("齊藤"), "斎藤");
    assert_eq!(fold_kanji_loose("斉藤"), "斎藤");
    assert!(kanji_variant_pairs().len() >= 100);
}

#[test]
fn name_keys_of_variants_agree_at_the_variant_level_only() {
    let a = NameKeys::new("渡邊", "ﾜﾀﾅﾍﾞ");
    let b = NameKeys::new("渡辺", "わたなべ");
    assert_ne!(a.raw, b.raw, "stored forms stay distinguishable");
    assert_eq!(a.variant, b.variant);
    assert_eq!(a.kana, "ワタナベ");
    assert_eq!(a.kana, b.kana);
}

#[test]
fn nfkc_folds_compatibility_ideographs_and_spaces() {
    assert_eq!(nfkc_compact("大\u{FA10}"), "大塚");
    assert_eq!(nfkc_compact(" 佐藤　"), "佐藤");
    // IVS selector dropped.
    assert_eq!(nfkc_compact("渡\u{908A}\u{E0100}"), "渡\u{908A}");
}

#[test]
fn kana_forms_fold_together() {
    for s in ["ｻﾄｳ", "サトウ", "さとう", "サ ト ウ"] {
        assert_eq!(kana_key(s), "サトウ", "{s}");
    }
    assert_eq!(kana_key("ｶﾞｸ"), "ガク");
    // Long vowels and spelled-out long vowels.
    assert_eq!(fold_kana("コオノ"), fold_kana("コウノ"));
    assert_eq!(fold_kana("コーノ"), fold_kana("コウノ"));
    assert_eq!(fold_kana("オオノ"), fold_kana("オーノ"));
    assert_eq!(fold_kana("ユーコ"), fold_kana("ゆうこ"));
    assert_eq!(fold_kana("ケーコ"), fold_kana("ケイコ"));
    // Small kana, ヂ/ヅ, ヲ, ヴ.
    assert_eq!(fold_kana("キョウコ"), fold_kana("キヨウコ"));
    assert_eq!(fold_kana("ミヅキ"), fold_kana("ミズキ"));
    assert_eq!(fold_kana("チヂワ"), fold_kana("チジワ"));
    assert_eq!(fold_kana("ヲノ"), fold_kana("オノ"));
    assert_eq!(fold_kana("ヴァイオリン"), fold_kana("バイオリン"));
    // Folding must not merge different names.
    assert_ne!(fold_kana("サトウ"), fold_kana("サイトウ"));
    assert_ne!(fold_kana("カトウ"), fold_kana("ガトウ"));
}

#[test]
fn phone_formats_normalise_to_national_digits() {
    let want = "0112345678";
    for s in [
        "011-234-5678",
        "0112345678",
        "(011)234-5678",
        "０１１－２３４－５６７８",
        "011ー234ー5678",
        "011‐234‐5678",
        "011–234—5678",
        "+81-11-234-5678",
        "+81 (0)11 234 5678",
        "0081112345678",
        " 011 234 5678 ",
    ] {
        assert_eq!(normalize_phone(s), want, "{s}");
    }
    assert_eq!(normalize_phone("+81 90-1234-5678"), "09012345678");
    assert_eq!(normalize_phone(""), "");
}

#[test]
fn addresses_normalise_numbers_and_prefecture() {
    let a = normalize_address("北海道札幌市中央区南三条西五丁目一番二号");
    let b = normalize_address("札幌市中央区南3条西5-1-2");
    let c = normalize_address("札幌市中央区南３条西５丁目１番地２");
    let d = normalize_address("〒060-0063 北海道札幌市中央区南3条西5丁目1-2 ハイツ南 201号室");
    assert_eq!(a.full, "札幌市中央区南3条西5-1-2");
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(d.block, a.block);
    assert_ne!(d.full, a.full, "the building is part of the full key");
    assert_eq!(d.town, "札幌市中央区南3条西");
    let e = normalize_address("旭川市豊岡1丁目2番3号");
    assert_eq!(e.full, "旭川市豊岡1-2-3");
    assert_eq!(
        normalize_address("一丁目2番3号").full,
        normalize_address("1-2-3").full
    );
    assert_eq!(normalize_address("2番地の3").full, "2-3");
    // Prefecture dropped only when something follows.
    assert_eq!(normalize_address("神奈川県横浜市").full, "横浜市");
    assert_eq!(normalize_address("北海道").full, "北海道");
}

#[test]
fn birth_dates_parse_from_common_formats() {
    let want = BirthDate::new(1950, 3, 2);
    for s in [
        "1950-03-02",
        "1950/3/2",
        "19500302",
        "1950年3月2日",
        "１９５０－０３－０２",
        "昭和25年3月2日",
        "S25.3.2",
        "s25/03/02",
    ] {
        assert_eq!(BirthDate::parse(s), want, "{s}");
    }
    assert_eq!(
        BirthDate::parse("平成元年1月8日"),
        BirthDate::new(1989, 1, 8)
    );
    assert_eq!(BirthDate::parse("1950-13-02"), None);
    assert_eq!(BirthDate::parse(""), None);
}

#[test]
fn match_keys_keep_previous_names_and_digits() {
    let r = PersonRecord {
        family_kanji: "田中".into(),
        family_kana: "タナカ".into(),
        previous_family_names: vec![
            PreviousName {
                kanji: "鈴木".into(),
                kana: "すずき".into(),
            },
            // Same as current: dropped.
            PreviousName {
                kanji: "田中".into(),
                kana: "タナカ".into(),
            },
        ],
        insurance_number: "０６１３００１２・記号12-番号345".into(),
        postal_code: "〒０６０－００６３".into(),
        ..Default::default()
    };
    let k = MatchKeys::from(&r);
    assert_eq!(k.previous_family.len(), 1);
    assert_eq!(k.previous_family[0].kana_folded, "スズキ");
    assert_eq!(k.insurance_number, "0613001212345");
    assert_eq!(k.postal_code, "0600063");
}

#[test]
fn kana_written_in_the_kanji_field_is_used_as_kana() {
    let k = NameKeys::new("さくら", "");
    assert_eq!(k.kana, "サクラ");
}
