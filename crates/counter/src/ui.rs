//! The fixed words of the resident pages, in Japanese and English.
//!
//! A plain table rather than Fluent: the strings have no plurals or
//! inflection, and a table checked by a test (every key in both languages)
//! is all the pages need.

use std::collections::BTreeMap;

use forms::Lang;

const STRINGS: &[(&str, &str, &str)] = &[
    ("site_name", "まどぐち 電子申請サービス", "Madoguchi Online Applications"),
    ("skip_to_main", "本文へ移動", "Skip to main content"),
    ("other_lang", "English", "日本語"),
    ("other_lang_tag", "en", "ja"),
    ("portal_lead", "お住まいの市区町村を選んでください。", "Choose your municipality."),
    ("forms_heading", "申請・届出の一覧", "Applications and notifications"),
    ("status_link", "申請状況の確認", "Check the status of an application"),
    ("required", "必須", "Required"),
    ("error_prefix", "エラー：", "Error: "),
    ("optional", "任意", "Optional"),
    ("errors_heading", "入力内容に誤りがあります。各項目のメッセージをご確認ください。", "Some answers need attention. Please see the messages by each item."),
    ("errors_count", "件の項目を確認してください", "item(s) to check"),
    ("to_confirm", "入力内容を確認する", "Review your answers"),
    ("confirm_heading", "入力内容の確認", "Review your answers"),
    ("confirm_lead", "以下の内容で送信します。よろしければ「送信する」を押してください。", "Please check your answers. If they are correct, press “Send”."),
    ("edit", "修正する", "Make changes"),
    ("send", "送信する", "Send"),
    ("not_answered", "（未入力）", "(not answered)"),
    ("receipt_heading", "受付が完了しました", "Your application has been received"),
    ("receipt_lead", "以下の番号を控えてください。このページを印刷するか、画面を保存しておくと便利です。", "Please keep the numbers below. Printing or saving this page is a good idea."),
    ("receipt_number", "到達番号", "Receipt number"),
    ("inquiry_number", "問合せ番号", "Inquiry number"),
    ("inquiry_secret", "確認キー", "Access key"),
    ("inquiry_note", "申請状況の確認には、問合せ番号と確認キーの両方が必要です。確認キーは再発行できません。", "To check the status you need both the inquiry number and the access key. The access key cannot be issued again."),
    ("received_at", "受付日時", "Received at"),
    ("record_hash", "受付記録のハッシュ値", "Hash of the sealed record"),
    ("record_hash_note", "送信内容は暗号化され、担当課以外は読むことができません。", "What you sent was encrypted; only the responsible office can read it."),
    ("form_name", "申請名", "Application"),
    ("ledger_index", "受付台帳の記録番号", "Ledger entry"),
    ("ledger_note", "受付の記録は改ざんを検出できる台帳に登録されています。記録番号のリンクから、台帳に含まれていることの証明を確認できます。", "This receipt is entered in a tamper-evident ledger; the link shows the proof that it is included."),
    ("status_heading", "申請状況の確認", "Check the status of an application"),
    ("status_lead", "受付完了画面に表示された問合せ番号と確認キーを入力してください。", "Enter the inquiry number and access key shown when your application was received."),
    ("status_check", "確認する", "Check"),
    ("status_not_found", "該当する申請が見つかりません。問合せ番号と確認キーをご確認ください。", "No application matches. Please check the inquiry number and access key."),
    ("status_current", "現在の状況", "Current status"),
    ("status_changed_at", "状況の更新日時", "Status updated at"),
    ("staff_message", "担当課からのお知らせ", "Message from the office"),
    ("contact", "お問い合わせ先", "Contact"),
    ("back_to_forms", "申請の一覧へ戻る", "Back to the list of applications"),
    ("draft_expired", "入力内容の確認から時間が経ちすぎたため、送信できませんでした。入力内容はそのまま残っていますので、もう一度確認してください。", "Too much time passed since you reviewed your answers, so they were not sent. Your answers are kept below; please review them again."),
    ("form_changed", "この申請の様式が更新されました。入力内容はそのまま残っていますので、確認のうえもう一度お進みください。", "This form has been updated. Your answers are kept; please check them and continue."),
    ("shown_when", "次の場合にお答えください：", "Answer only if:"),
    ("name_main", "氏名", "Full name"),
    ("name_kana", "フリガナ", "Name in katakana"),
    ("postal_code", "郵便番号", "Postal code"),
    ("region", "都道府県・市区町村", "Prefecture and city"),
    ("address_line", "町名・番地・建物名・部屋番号", "Town, block number, building and room"),
    ("email_confirm", "確認のためもう一度入力してください", "Enter it again to confirm"),
    ("date_hint", "例：令和8年4月1日、R8.4.1、2026-04-01", "e.g. 2026-04-01, or Japanese era R8.4.1"),
    ("phone_hint", "例：03-1234-5678（ハイフンなしでも可）", "e.g. 03-1234-5678 (hyphens optional)"),
    ("postal_hint", "例：123-4567", "e.g. 123-4567"),
    ("postal_lookup", "住所を検索", "Look up address"),
    ("postal_lookup_invalid", "郵便番号を7桁の数字で入力してから「住所を検索」を押してください（例：123-4567）。", "Enter a 7-digit postal code (for example 123-4567), then press “Look up address”."),
    ("postal_lookup_found", "郵便番号 {code} から「{region}」を入力しました。続けて町名・番地を入力してください。", "Filled in “{region}” from postal code {code}. Please go on with the town and block number."),
    ("postal_lookup_unknown", "郵便番号 {code} に当たる住所が見つかりませんでした。郵便番号をご確認いただくか、住所をそのまま入力してください。", "No address was found for postal code {code}. Please check it, or enter the address yourself."),
    ("kana_hint", "カタカナまたはひらがなで入力してください", "Katakana or hiragana"),
    ("max_chars", "文字以内", "characters at most"),
    ("agree", "同意する", "I agree"),
    ("choose_slot", "日時を選んでください", "Choose a date and time"),
    ("slot_left", "残り", "places left: "),
    ("slot_full", "満員", "full"),
    ("no_slots", "現在、予約できる日時がありません。お手数ですが担当課へお問い合わせください。", "No times can be booked at the moment. Please contact the office."),
    ("anonymous_notice", "このアンケートは匿名です。お名前や連絡先はお聞きしません。", "This survey is anonymous: we do not ask your name or contact details."),
    ("booking_slot", "予約日時", "Booked time"),
    ("cancel_booking", "この予約を取り消す", "Cancel this booking"),
    ("cancel_note", "取り消すと、この日時は他の方が予約できるようになります。取り消した予約は元に戻せません。", "Once cancelled, the time can be booked by someone else. A cancelled booking cannot be restored."),
    ("cancelled_notice", "予約を取り消しました。", "Your booking has been cancelled."),
    ("not_cancellable", "この申請はオンラインでは取り消せません。担当課へお問い合わせください。", "This application cannot be cancelled online. Please contact the office."),
    ("files_sent", "送信済みのファイル", "Files already sent"),
    ("file_sent", "送信済み：", "Sent: "),
    ("file_remove", "このファイルを外す", "Remove this file"),
    ("file_replace", "別のファイルを選ぶと、送信済みのファイルと差し替えます。", "Choosing another file replaces the one already sent."),
    ("file_add_more", "ファイルを選ぶと、送信済みのファイルに追加します。", "Files you choose are added to those already sent."),
    ("choose_multiple", "当てはまるものをすべて選んでください", "Choose all that apply"),
    ("isolated_heading", "お知らせ", "Notice"),
    ("isolated_lead", "この市区町村の電子申請は、現在ご利用いただけません。", "Online applications for this municipality are not available at the moment."),
    ("isolated_default", "安全のため、一時的にサービスを停止しています。これまでに受け付けた申請は失われていません。", "The service has been stopped for safety. Applications already received have not been lost."),
    ("isolated_since", "停止した日時", "Stopped at"),
    ("isolated_contact", "お急ぎの手続きは、次の窓口へお問い合わせください。", "For anything urgent, please contact:"),
    ("print_hint", "このページを印刷する場合は、ブラウザの印刷機能をお使いください。", "To print this page, use your browser's print function."),
];

/// The table for one language, as templates see it (`t.send`).
pub(crate) fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    STRINGS.iter().map(|(key, ja, en)| (*key, if lang == Lang::En { *en } else { *ja })).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_string_exists_in_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, ja, en) in super::STRINGS {
            assert!(keys.insert(key), "duplicate key {key}");
            assert!(!ja.is_empty() && !en.is_empty(), "{key} is missing a language");
        }
    }
}
