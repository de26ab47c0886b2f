//! Documents as PDF: the text a PDF reader finds is the text set, in Chinese, on A4 and A5.

use huimin_app::documents::{self, Block, Paper};

fn font_or_skip() -> bool {
    if documents::available() {
        return true;
    }
    if std::env::var("HUIMIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("HUIMIN_REQUIRE_BROWSER=1 but no CJK font (apt-get install fonts-noto-cjk)");
    }
    eprintln!("\n*** WARNING: PDF tests SKIPPED: no CJK font (apt-get install fonts-noto-cjk) ***\n");
    false
}

fn text_of(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).expect("a PDF a reader opens");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("its text")
}

#[test]
fn a_document_reads_back_as_it_was_set_on_a4_and_a5() {
    if !font_or_skip() {
        return;
    }
    let mut blocks = vec![
        Block::Title("兰山区人民医院".into()),
        Block::Text { text: "健康扶贫“一站式”结算单".into(), strong: false },
        Block::Row(vec![("基本医疗保险".into(), 3.0), ("22780.00".into(), 1.0)]),
        Block::Gap,
        Block::Text { text: "个人负担 ¥1440.50（壹仟肆佰肆拾元伍角）".into(), strong: true },
    ];
    // Enough lines for a second page.
    blocks.extend((1..=80).map(|i| Block::Text { text: format!("第 {i} 行"), strong: false }));
    for paper in [Paper::A4, Paper::A5] {
        let pdf = documents::pdf(&blocks, paper).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text: String = text_of(&pdf).chars().filter(|c| !c.is_whitespace()).collect();
        for part in ["兰山区人民医院", "健康扶贫“一站式”结算单", "基本医疗保险", "22780.00", "壹仟肆佰肆拾元伍角", "第80行"] {
            assert!(text.contains(part), "{paper:?}: {part} in {text}");
        }
        let pages = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
        assert!(pages >= 2, "{paper:?}: a full page continues on the next ({pages})");
    }
}
