//! Kanji variant tables for name matching.
//!
//! NFKC folds CJK compatibility ideographs (e.g. U+FA1B 福, U+FA10 塚) but not the 旧字体 /
//! 異体字 that people really write in names (髙/高, 﨑/崎, 邊/辺, 澤/沢, 𠮷/吉). These tables come
//! from the 常用漢字表 old/new forms (康熙字典体 → 新字体) restricted to characters that occur in
//! names, plus the common surname 異体字 (drawn from the shinjitai list and the variant pairs
//! Mozc and the MJ 縮退マップ also fold). They are applied to match keys only.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Same character, different glyph standard: folding these is safe (level "variant").
/// Written as consecutive (variant, standard) character pairs.
const STRICT: &str = concat!(
    // common surname 異体字
    "髙高", "﨑崎", "嵜崎", "邊辺", "邉辺", "齋斎", "齊斉", "澤沢", "𠮷吉", "濱浜", "濵浜", "嶋島",
    "嶌島", "廣広", "櫻桜", "德徳", "惠恵", "國国", "眞真", "實実", "龍竜", "瀨瀬", "栁柳", "槇槙",
    "冨富", "藪薮", "渕淵", "舘館", "峯峰", "嶽岳", "桒桑", "曾曽", "檜桧", "瀧滝", "籠篭", "澁渋",
    "彌弥", "與与", "豐豊", "禮礼", "增増", "靜静", "淸清", "條条", "榮栄", "藏蔵", "對対", "壽寿",
    "曉暁", "萬万", "會会", "黑黒", "鷗鴎", "驒騨", "兒児", "圓円", "團団", "應応", "關関", "學学",
    "樂楽", "莊荘", "戶戸", "邨村", "崗岡", "晄晃", "凜凛", "穗穂", "亞亜", "爲為", "壹壱", "衞衛",
    "驛駅", "鹽塩", "緣縁", "假仮", "價価", "畫画", "覺覚", "舊旧", "擧挙", "區区", "徑径", "藝芸",
    "縣県", "驗験", "恆恒", "黃黄", "號号", "濟済", "參参", "贊賛", "絲糸", "辭辞", "收収", "從従",
    "縱縦", "處処", "將将", "燒焼", "乘乗", "淨浄", "讓譲", "寢寝", "愼慎", "晉晋", "盡尽", "粹粋",
    "醉酔", "隨随", "數数", "聲声", "攝摂", "專専", "淺浅", "戰戦", "錢銭", "潛潜", "纖繊", "禪禅",
    "雙双", "壯壮", "巢巣", "爭争", "總総", "聰聡", "裝装", "騷騒", "臟臓", "屬属", "續続", "體体",
    "帶帯", "臺台", "擇択", "單単", "擔担", "彈弾", "斷断", "遲遅", "晝昼", "蟲虫", "鑄鋳", "廳庁",
    "聽聴", "鎭鎮", "鐵鉄", "轉転", "點点", "傳伝", "黨党", "燈灯", "當当", "鬪闘", "獨独", "讀読",
    "繩縄", "貳弐", "霸覇", "廢廃", "拜拝", "賣売", "麥麦", "發発", "髮髪", "拔抜", "祕秘", "拂払",
    "佛仏", "竝並", "變変", "辨弁", "辯弁", "舖舗", "寶宝", "萠萌", "滿満", "默黙", "藥薬", "譯訳",
    "豫予", "餘余", "譽誉", "搖揺", "樣様", "謠謡", "來来", "賴頼", "亂乱", "覽覧", "兩両", "獵猟",
    "綠緑", "壘塁", "勵励", "靈霊", "齡齢", "戀恋", "爐炉", "勞労", "樓楼", "祿禄", "錄録", "灣湾",
    "亙亘", "堯尭", "遙遥", "瑤瑶", "凉涼", "埜野", "杦杉", "秊年", "㐂喜", "舩船",
);

/// Different characters that facilities confuse in names (斉藤 typed for 齋藤): folded only at
/// the weaker "loose" level, after [`STRICT`].
const LOOSE: &str =
    concat!("斉斎", "碕崎", "埼崎", "籐藤", "冶治", "挟狭", "ヶケ", "ヵカ");

fn table(src: &'static str) -> HashMap<char, char> {
    let chars: Vec<char> = src.chars().collect();
    assert!(chars.len() % 2 == 0, "variant table must hold pairs");
    chars
        .chunks(2)
        .filter(|p| p[0] != p[1])
        .map(|p| (p[0], p[1]))
        .collect()
}

pub(crate) fn strict() -> &'static HashMap<char, char> {
    static T: OnceLock<HashMap<char, char>> = OnceLock::new();
    T.get_or_init(|| table(STRICT))
}

pub(crate) fn loose() -> &'static HashMap<char, char> {
    static T: OnceLock<HashMap<char, char>> = OnceLock::new();
    T.get_or_init(|| table(LOOSE))
}

/// All (variant, standard) pairs of the strict table, e.g. for generating test noise.
pub fn strict_pairs() -> Vec<(char, char)> {
    let mut v: Vec<(char, char)> = strict().iter().map(|(a, b)| (*a, *b)).collect();
    v.sort_unstable();
    v
}
