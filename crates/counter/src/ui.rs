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
    ("verify_heading", "回答の前に本人確認をお願いします", "Please confirm who you are before answering"),
    ("verify_for", "回答いただける方", "Who may answer"),
    ("verify_for_residents", "{city}にお住まいの方", "Residents of {city}"),
    ("verify_for_adults", "18歳以上の方", "People aged 18 or over"),
    ("verify_once", "お一人につき1回回答できます。回答の内容から、あなたが誰かは分かりません。", "Each person can answer once. Your answers do not tell us who you are."),
    ("verify_sign_in", "このアンケートは本人確認をした方だけが回答できます。「{provider}」でログインすると、回答を始められます。市が受け取るのは、対象の方かどうかの結果だけです。", "Only people who have confirmed who they are can answer this survey. Sign in with {provider} to begin. The city receives only whether you may answer, nothing else about you."),
    ("verify_sign_in_button", "{provider}でログインして回答を始める", "Sign in with {provider} and begin"),
    ("verify_oidc_done", "本人確認が済みました。回答を入力してください。", "You have confirmed who you are. Please enter your answers."),
    ("verify_jpki_notice", "このアンケートは、送信の前にマイナンバーカードの署名用電子証明書で回答に電子署名していただきます（署名用パスワード（英数字6〜16文字）が必要です）。", "Before sending, you sign your answers with the signing certificate of your My Number Card (you need its signing password, 6 to 16 letters and digits)."),
    ("verify_jpki_heading", "マイナンバーカードで署名して送信", "Sign with your My Number Card and send"),
    ("verify_jpki_lead", "回答が確かにご本人のものであることを確かめるため、次の手順で回答に電子署名してください。", "To confirm that the answers are yours, please sign them as follows."),
    ("verify_jpki_step1", "「署名するファイルを保存」を押して、回答の内容を表すファイルを保存します。", "Press “Save the file to sign” to save a file that stands for your answers."),
    ("verify_jpki_step2", "公的個人認証サービスの利用者ソフト（スマートフォンではマイナポータルアプリ）で、保存したファイルにマイナンバーカードの署名用電子証明書で署名します。署名ファイル（.p7s）ができます。", "Sign the saved file with your card's signing certificate in the JPKI client software (on a phone, the Mynaportal app). This makes a signature file (.p7s)."),
    ("verify_jpki_step3", "できた署名ファイルを下で選び、「送信する」を押してください。", "Choose the signature file below and press “Send”."),
    ("verify_jpki_download", "署名するファイルを保存", "Save the file to sign"),
    ("verify_jpki_text", "署名するファイルの内容", "What the file to sign says"),
    ("verify_jpki_file", "署名ファイル", "Signature file"),
    ("verify_jpki_file_hint", "拡張子が .p7s のファイルです。署名に使った電子証明書の住所・氏名・生年月日は、対象の方かどうかの確認にだけ使い、保存しません。", "A file ending in .p7s. The address, name and birth date in the certificate are used only to check whether you may answer, and are not kept."),
    ("verify_signature_missing", "署名ファイルを選んでください。", "Please choose the signature file."),
    ("verify_respondent", "本人確認", "Identity"),
    ("verify_respondent_done", "確認済み", "Confirmed"),
    ("verify_answered_heading", "このアンケートには回答済みです", "You have already answered this survey"),
    ("verify_answered", "お一人につき1回回答できるアンケートです。すでに回答を受け付けていますので、もう一度回答することはできません。ご協力ありがとうございました。", "Each person can answer this survey once. Your answer has already been received, so it cannot be answered again. Thank you for taking part."),
    ("verify_not_eligible_heading", "このアンケートの対象ではありません", "This survey is not open to you"),
    ("verify_not_resident", "このアンケートは{city}にお住まいの方が対象です。電子証明書などに記録された住所が{city}ではないため、回答を受け付けられません。転入されたばかりの方は、担当課へお問い合わせください。", "This survey is for residents of {city}. The address recorded for you is not in {city}, so your answer cannot be accepted. If you have just moved in, please contact the office."),
    ("verify_not_adult", "このアンケートは18歳以上の方が対象です。", "This survey is for people aged 18 or over."),
    ("verify_failed_heading", "本人確認ができませんでした", "We could not confirm who you are"),
    ("verify_failed", "本人確認サービスでの確認ができませんでした。もう一度お試しください。回答はまだ送信されていません。", "The sign-in could not be completed. Please try again. Nothing has been sent yet."),
    ("verify_retry", "もう一度本人確認をする", "Try again"),
    ("verify_unavailable_heading", "現在このアンケートには回答できません", "This survey cannot be answered at the moment"),
    ("verify_unavailable", "本人確認の準備が整っていないため、現在このアンケートには回答できません。お手数ですが、担当課へお問い合わせください。", "Identity confirmation is not available, so this survey cannot be answered at the moment. Please contact the office."),
    ("back_to_tenant", "手続きの一覧へ戻る", "Back to the list of services"),
    ("crisis_heading", "災害に関するお知らせ", "Disaster notice"),
    ("crisis_notice_heading", "重要なお知らせ", "Important notice"),
    ("crisis_default", "災害対応のため、現在は被害状況の報告・安否情報の登録を優先して受け付けています。人命にかかわる緊急の場合は、119番・110番に通報してください。", "Because of the disaster, reports of damage and of people's safety come first for now. In an emergency where lives are at risk, call 119 or 110."),
    ("crisis_paused_heading", "この手続きは一時停止しています", "This service is paused"),
    ("crisis_paused", "災害対応のため、この手続きの受付を一時停止しています。これまでに受け付けた申請は失われていません。再開はこのページでお知らせします。", "Because of the disaster, this service is paused. Applications already received have not been lost. This page will say when it opens again."),
    ("crisis_others", "ほかの手続きは、災害対応のため一時停止しています。", "Other services are paused for the disaster response."),
    ("print_hint", "このページを印刷する場合は、ブラウザの印刷機能をお使いください。", "To print this page, use your browser's print function."),
    ("rooms_link", "電子会議室・パブリックコメント", "Discussion rooms and public comment"),
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
