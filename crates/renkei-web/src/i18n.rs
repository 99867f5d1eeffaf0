//! UI text in Japanese (primary) and English. Keys are looked up at render time; a test
//! checks that every key the templates and handlers use exists in both languages.

use renkei_domain::password::PasswordPolicyError;
use renkei_domain::Lang;
use std::collections::HashMap;
use std::sync::OnceLock;

/// (key, 日本語, English)
const MESSAGES: &[(&str, &str, &str)] = &[
    ("lang.switch", "English", "日本語"),
    ("nav.label", "メインメニュー", "Main menu"),
    ("nav.home", "ホーム", "Home"),
    ("nav.directory", "施設検索", "Facility directory"),
    ("nav.staff", "職員管理", "Staff"),
    ("nav.readiness", "システム調査", "Systems survey"),
    ("nav.applications", "入会申請", "Applications"),
    ("nav.users", "利用者", "Users"),
    ("nav.readiness_summary", "調査集計", "Survey summary"),
    ("nav.audit", "監査ログ", "Audit trail"),
    ("nav.logout", "ログアウト", "Sign out"),
    ("nav.apply", "参加申請", "Apply to join"),
    ("footer.privacy", "患者情報は本人の同意に基づき、ケアに関わる施設の間でのみ共有されます。すべての閲覧は記録されます。", "Patient information is shared only between the facilities caring for the patient, under the patient's consent. Every access is recorded."),
    ("demo.banner", "デモモード：表示されているデータはすべて架空のものです。実在の患者・施設とは関係ありません。", "Demo mode: all data shown is synthetic. It describes no real patient or facility."),
    ("demo.login_help_title", "デモ用アカウント", "Demo accounts"),
    ("demo.login_help", "下記のログインIDはすべてパスワード", "Every login ID below uses the password"),
    ("demo.totp_help_title", "デモ用の確認コード", "Demo verification code"),
    ("demo.totp_help", "デモアカウントの現在のコード：", "The current code for demo accounts:"),
    ("login.title", "ログイン", "Sign in"),
    ("login.login_id", "ログインID", "Login ID"),
    ("login.password", "パスワード", "Password"),
    ("login.submit", "次へ", "Next"),
    ("login.failed", "ログインIDまたはパスワードが正しくないか、アカウントが一時的にロックされています。", "The login ID or password is wrong, or the account is temporarily locked."),
    ("login.rate_limited", "試行回数が多すぎます。1分ほど待ってから再度お試しください。", "Too many attempts. Wait a minute and try again."),
    ("login.facility_inactive", "所属施設が利用停止または退会のため、ログインできません。事務局にお問い合わせください。", "Your facility is suspended or has left the network. Contact the secretariat."),
    ("login.forgot", "パスワードや認証アプリを失くした場合は、施設管理者または事務局に再設定を依頼してください。", "Lost your password or authenticator? Ask your facility administrator or the secretariat for a reset link."),
    ("login.apply_link", "ネットワークへの参加を申請する", "Apply for your facility to join the network"),
    ("second_factor.title", "2段階認証", "Two-step verification"),
    ("second_factor.code", "確認コード（6桁）またはリカバリーコード", "6-digit code or a recovery code"),
    ("second_factor.help", "認証アプリに表示されている6桁のコードを入力してください。", "Enter the 6-digit code shown in your authenticator app."),
    ("second_factor.submit", "ログイン", "Sign in"),
    ("second_factor.restart", "最初からやり直す", "Start again"),
    ("second_factor.failed", "コードが正しくありません。", "The code is not correct."),
    ("second_factor.replayed", "このコードは使用済みです。次のコードが表示されるまでお待ちください。", "This code was already used. Wait for the next one."),
    ("setup.title", "アカウントの初期設定", "Set up your account"),
    ("setup.password_heading", "パスワードを決める", "Choose a password"),
    ("setup.password_rules", "10文字以上。英字・数字・記号のうち2種類以上を含め、ログインIDを含まないもの。長めの文でも構いません。", "At least 10 characters, mixing two of letters, digits and symbols, not containing your login ID. A long phrase is welcome."),
    ("setup.password_confirm", "パスワード（確認）", "Password (again)"),
    ("setup.totp_heading", "認証アプリを登録する", "Register an authenticator app"),
    ("setup.totp_help", "スマートフォンの認証アプリ（Google Authenticator、Microsoft Authenticator など）でQRコードを読み取り、表示された6桁のコードを入力してください。", "Scan the QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, …) and enter the 6-digit code it shows."),
    ("setup.qr_alt", "認証アプリ登録用のQRコード", "QR code for the authenticator app"),
    ("setup.manual_key", "読み取れない場合は次のキーを手入力：", "Can't scan? Enter this key by hand:"),
    ("setup.code", "認証アプリの6桁のコード", "6-digit code from the app"),
    ("setup.submit", "設定を完了する", "Finish setup"),
    ("setup.mismatch", "確認用のパスワードが一致しません。", "The two passwords differ."),
    ("setup.bad_code", "認証アプリのコードが確認できませんでした。時刻設定を確認し、新しいコードを入力してください。", "The authenticator code could not be confirmed. Check the phone's clock and enter a fresh code."),
    ("setup.done_title", "設定が完了しました", "Setup complete"),
    ("setup.codes_help", "スマートフォンを失くしたときのためのリカバリーコードです。各コードは1回だけ使えます。印刷するか安全な場所に控えてください。この画面は二度と表示されません。", "These recovery codes let you sign in if you lose your phone. Each works once. Print them or keep them somewhere safe: this page is not shown again."),
    ("setup.to_login", "ログイン画面へ", "Go to sign-in"),
    ("home.title", "ホーム", "Home"),
    ("home.welcome", "ようこそ、", "Welcome,"),
    ("home.few_recovery_codes", "未使用のリカバリーコードが残りわずかです。管理者に再設定を依頼してください。", "You have few unused recovery codes left. Ask an administrator for a reset."),
    ("home.secretariat", "事務局", "Secretariat"),
    ("home.pending_applications", "審査待ちの入会申請", "Applications to review"),
    ("home.active_facilities", "参加施設", "Participating facilities"),
    ("home.failed_logins", "ログイン失敗（24時間）", "Failed sign-ins (24 h)"),
    ("home.surveys", "システム調査の回答", "Survey answers"),
    ("home.facility_admin", "施設管理", "Facility administration"),
    ("home.staff", "有効な職員アカウント", "Active staff accounts"),
    ("home.awaiting_setup", "初期設定待ち", "Awaiting setup"),
    ("home.survey", "システム調査", "Systems survey"),
    ("home.survey_done", "回答済み", "Answered"),
    ("home.survey_todo", "未回答です。回答してください。", "Not answered yet."),
    ("home.my_facilities", "所属施設", "My facilities"),
    ("home.no_facilities", "所属施設はありません。", "No facility memberships."),
    ("home.acting_for", "利用中", "Acting for"),
    ("home.act_for", "この施設に切り替える", "Act for this facility"),
    ("directory.title", "施設検索", "Facility directory"),
    ("directory.query", "名称・ふりがな・住所・施設ID", "Name, reading, address or facility ID"),
    ("directory.query_hint", "例：さくら、苫小牧 訪問看護、F00012", "e.g. さくら, 訪問看護, F00012"),
    ("directory.type", "種別", "Type"),
    ("directory.category", "区分", "Category"),
    ("directory.area", "地区", "Area"),
    ("directory.status", "状態", "Status"),
    ("directory.any", "すべて", "Any"),
    ("directory.all_statuses", "すべての状態", "Every status"),
    ("directory.search", "検索", "Search"),
    ("directory.results", "該当件数", "Results"),
    ("directory.none", "該当する施設はありません。", "No facility matches."),
    ("pager.prev", "前へ", "Previous"),
    ("pager.next", "次へ", "Next"),
    ("facility.title", "施設情報", "Facility"),
    ("facility.name", "施設名", "Facility"),
    ("facility.code", "施設ID", "Facility ID"),
    ("facility.category", "区分", "Category"),
    ("facility.legal_entity", "法人名", "Legal entity"),
    ("facility.address", "所在地", "Address"),
    ("facility.tel", "電話", "Phone"),
    ("facility.fax", "FAX", "Fax"),
    ("facility.email", "メール", "E-mail"),
    ("facility.professions", "在籍職種", "Professions on staff"),
    ("facility.application", "申請情報", "Application"),
    ("facility.applied_at", "申請日時", "Applied"),
    ("facility.decided_at", "決定日時", "Decided"),
    ("facility.reason", "理由", "Reason"),
    ("facility.actions", "事務局の操作", "Secretariat actions"),
    ("status.active", "参加中", "Active"),
    ("status.suspended", "利用停止", "Suspended"),
    ("status.withdrawn", "退会", "Withdrawn"),
    ("apply.title", "ネットワーク参加（入会）申請", "Application to join the network"),
    ("apply.intro", "事務局が内容を確認し、承認後に施設IDと施設管理者の初期設定用リンクを発行します。", "The secretariat reviews the application; on approval it issues the facility ID and a setup link for the facility administrator."),
    ("apply.facility", "施設", "Facility"),
    ("apply.contact", "所在地・連絡先", "Address and contact"),
    ("apply.people", "申請者・施設管理者", "Applicant and facility administrator"),
    ("apply.official_id_help", "医療機関・薬局は医療機関コード、介護事業所は介護保険事業所番号（いずれも10桁）。保険外サービス・行政は空欄で構いません。", "Medical institutions and pharmacies: the 10-digit institution code; care services: the 10-digit care provider number; leave empty for other kinds."),
    ("apply.applicant_name", "申請者", "Applicant"),
    ("apply.admin_name", "施設管理者", "Facility administrator"),
    ("apply.submit", "申請する", "Submit application"),
    ("apply.duplicate", "この医療機関コード／事業所番号の施設はすでに参加中または審査中です。", "A facility with this official number is already a member or under review."),
    ("apply.done_title", "申請を受け付けました", "Application received"),
    ("apply.done", "申請を受け付けました。事務局からの連絡をお待ちください。", "Your application was received. The secretariat will contact you."),
    ("form.fix_errors", "入力内容を確認してください。", "Please correct the following."),
    ("form.choose", "選択してください", "Choose…"),
    ("form.save", "保存", "Save"),
    ("field.facility_type", "施設種別", "Facility type"),
    ("field.legal_entity", "法人名", "Legal entity"),
    ("field.name", "施設名", "Facility name"),
    ("field.name_kana", "施設名（ふりがな）", "Facility name (kana reading)"),
    ("field.official_id", "医療機関コード／介護保険事業所番号", "Institution code / care provider number"),
    ("field.postal_code", "郵便番号", "Postal code"),
    ("field.address", "所在地", "Address"),
    ("field.area", "地区（町名）", "Area (town)"),
    ("field.tel", "電話番号", "Phone"),
    ("field.fax", "FAX番号", "Fax"),
    ("field.email", "メールアドレス", "E-mail"),
    ("field.applicant_name", "申請者氏名", "Applicant's name"),
    ("field.applicant_email", "申請者メールアドレス", "Applicant's e-mail"),
    ("field.admin_name", "施設管理者氏名", "Facility administrator's name"),
    ("field.admin_login_id", "施設管理者のログインID（希望）", "Administrator's login ID (requested)"),
    ("field.admin_email", "施設管理者メールアドレス", "Administrator's e-mail"),
    ("field.professions", "在籍職種", "Professions on staff"),
    ("field.display_name", "氏名", "Name"),
    ("field.display_name_kana", "氏名（ふりがな）", "Name (kana reading)"),
    ("field.login_id", "ログインID", "Login ID"),
    ("field.profession", "職種", "Profession"),
    ("field.role", "権限", "Role"),
    ("field.reason", "理由", "Reason"),
    ("field.system_kind", "使用システムの種類", "Kind of system"),
    ("field.vendor", "ベンダー", "Vendor"),
    ("field.product", "製品名", "Product"),
    ("field.ssmix2_export", "SS-MIX2 標準化ストレージ出力", "SS-MIX2 standardized storage export"),
    ("field.hl7_fhir_capable", "HL7 v2 / FHIR での送受信", "Can send or receive HL7 v2 / FHIR"),
    ("field.network_line", "ネットワーク回線", "Network line"),
    ("field.devices", "端末（種類と台数）", "Devices (kind and number)"),
    ("field.it_staff", "IT担当", "IT support"),
    ("field.notes", "備考", "Notes"),
    ("answer.yes", "あり", "Yes"),
    ("answer.no", "なし", "No"),
    ("answer.unknown", "不明", "Unknown"),
    ("it_staff.in_house", "院内・施設内に担当者あり", "In-house staff"),
    ("it_staff.vendor", "ベンダーに委託", "Vendor"),
    ("it_staff.none", "担当者なし", "None"),
    ("admin.applications_title", "入会申請の審査", "Applications"),
    ("admin.pending", "審査待ち", "Awaiting review"),
    ("admin.no_pending", "審査待ちの申請はありません。", "No application awaits review."),
    ("admin.approve", "承認して施設IDを発行", "Approve and issue facility ID"),
    ("admin.reject", "却下", "Reject"),
    ("admin.reject_reason", "却下の理由（申請者に伝えます）", "Reason for rejection (told to the applicant)"),
    ("admin.recently_rejected", "却下した申請", "Rejected applications"),
    ("admin.approved_title", "承認しました", "Approved"),
    ("admin.login_taken", "希望のログインIDはすでに使われています。申請者に別のIDを確認してください。", "The requested login ID is taken; ask the applicant for another."),
    ("admin.change_status", "状態の変更", "Change status"),
    ("admin.suspend", "利用停止", "Suspend"),
    ("admin.withdraw", "退会", "Withdraw"),
    ("admin.reinstate", "利用再開", "Reinstate"),
    ("admin.apply_status", "変更する", "Apply"),
    ("admin.readiness_title", "システム環境調査の集計", "Systems readiness summary"),
    ("admin.download_csv", "CSVダウンロード", "Download CSV"),
    ("admin.users_title", "利用者一覧", "Users"),
    ("admin.user_query", "氏名・ふりがな・ログインID・メール", "Name, reading, login ID or e-mail"),
    ("admin.reset_title", "再設定用リンクを発行しました", "Reset link issued"),
    ("admin.audit_title", "監査ログ", "Audit trail"),
    ("admin.consent_categories_title", "同意で共有から除外できる情報区分", "Information categories a consent may exclude"),
    ("admin.consent_categories_help", "患者の同意で共有から除外できる区分を選びます。基本情報と救急時サマリーは常に共有されます。区分をリストから外しても、すでに記録された同意の除外はそのまま有効です。", "Choose the categories a patient's consent may exclude from sharing. Demographics and the emergency summary are always shared. Removing a category from the list does not change consents already recorded: they keep excluding it."),
    ("admin.consent_categories_need_one", "少なくとも1つの区分を選んでください。", "Choose at least one category."),
    ("readiness.title", "システム環境調査", "Systems readiness survey"),
    ("readiness.intro", "ネットワーク接続の計画に使います。わかる範囲でご回答ください。", "Used to plan connections. Answer what you know."),
    ("readiness.last_answered", "最終回答", "Last answered"),
    ("readiness.system_hint", "電子カルテ / レセコン / 調剤システム / 介護ソフト", "EHR / billing / pharmacy / care software"),
    ("readiness.answered", "回答済み", "Answered"),
    ("readiness.ssmix2_yes", "SS-MIX2 出力あり", "SS-MIX2 export"),
    ("readiness.hl7_yes", "HL7/FHIR 対応", "HL7/FHIR capable"),
    ("readiness.by_facility", "施設別", "By facility"),
    ("readiness.system", "システム", "System"),
    ("readiness.network_line", "回線", "Line"),
    ("readiness.it_staff", "IT担当", "IT support"),
    ("readiness.not_answered", "未回答", "Not answered"),
    ("staff.title", "職員管理", "Staff"),
    ("staff.name", "氏名", "Name"),
    ("staff.profession", "職種", "Profession"),
    ("staff.role", "権限", "Role"),
    ("staff.state", "状態", "State"),
    ("staff.last_login", "最終ログイン", "Last sign-in"),
    ("staff.active", "有効", "Active"),
    ("staff.inactive", "無効", "Deactivated"),
    ("staff.awaiting_setup", "初期設定待ち", "Awaiting setup"),
    ("staff.invite", "職員を招待する", "Invite a member of staff"),
    ("staff.invite_submit", "招待して初期設定リンクを発行", "Invite and issue setup link"),
    ("staff.invited_title", "招待しました", "Invitation issued"),
    ("staff.login_taken", "このログインIDはすでに使われています。", "This login ID is already taken."),
    ("staff.edit_title", "職員情報の編集", "Edit staff member"),
    ("staff.deactivate", "この施設での利用を停止", "Deactivate at this facility"),
    ("staff.reactivate", "利用を再開", "Reactivate"),
    ("staff.reset", "パスワード・認証を再設定", "Reset password and authenticator"),
    ("staff.reset_help", "再設定すると現在のパスワードと認証アプリは無効になり、新しい初期設定リンクが発行されます。", "A reset voids the current password and authenticator and issues a new setup link."),
    ("staff.not_self", "自分自身のアカウントは停止できません。", "You cannot deactivate your own account."),
    ("role.secretariat", "事務局", "Secretariat"),
    ("link.intro", "次の初期設定用リンクを本人に安全な方法（手渡し・施設内メールなど）で伝えてください。本人がパスワードと認証アプリを設定します。", "Give this setup link to the person by a safe route (in person, internal mail). They choose a password and register an authenticator."),
    ("link.expires", "有効期限", "Expires"),
    ("link.once", "このリンクは一度だけ表示されます。使用後・期限後は無効です。", "The link is shown only once and stops working after use or expiry."),
    ("link.back", "戻る", "Back"),
    ("account.title", "アカウント", "Account"),
    ("account.recovery_codes", "未使用のリカバリーコード", "Unused recovery codes"),
    ("account.change_password", "パスワードの変更", "Change password"),
    ("account.current_password", "現在のパスワード", "Current password"),
    ("account.new_password", "新しいパスワード", "New password"),
    ("account.wrong_current", "現在のパスワードが正しくありません。", "The current password is wrong."),
    ("account.sessions", "ログイン中の端末", "Signed-in devices"),
    ("account.sign_out_everywhere_help", "端末を紛失した場合などに、すべての端末からログアウトします。", "Sign out on every device, e.g. after losing a tablet."),
    ("account.sign_out_everywhere", "すべての端末からログアウト", "Sign out everywhere"),
    ("audit.from", "開始日", "From"),
    ("audit.to", "終了日", "To"),
    ("audit.at", "日時", "Time"),
    ("audit.action", "操作", "Action"),
    ("audit.outcome", "結果", "Outcome"),
    ("audit.actor", "操作者", "Actor"),
    ("audit.target", "対象", "Target"),
    ("audit.patient", "患者ID", "Patient ID"),
    ("audit.ip", "接続元", "From address"),
    ("audit.detail", "詳細", "Detail"),
    ("audit.older", "さらに古い記録", "Older records"),
    ("audit.verify_hint", "改ざん検査は `renkei audit verify` で行えます。", "Check for tampering with `renkei audit verify`."),
    ("outcome.success", "成功", "Success"),
    ("outcome.failure", "失敗", "Failure"),
    ("outcome.denied", "拒否", "Denied"),
    ("notice.saved", "保存しました。", "Saved."),
    ("notice.consent_categories_saved", "共有から除外できる区分を保存しました。", "The excludable categories were saved."),
    ("notice.signed_out", "ログアウトしました。", "You are signed out."),
    ("notice.signed_out_everywhere", "すべての端末からログアウトしました。", "You are signed out on every device."),
    ("notice.session_expired", "一定時間操作がなかったため、ログアウトしました。", "You were signed out after a period of inactivity."),
    ("notice.locked", "認証に続けて失敗したため、アカウントを一時的にロックしました。しばらくしてから再度お試しください。", "Too many failed attempts: the account is locked for a while."),
    ("notice.password_changed", "パスワードを変更しました。", "Your password was changed."),
    ("policy.too_short", "パスワードは10文字以上にしてください。", "The password needs at least 10 characters."),
    ("policy.too_long", "パスワードは128文字以内にしてください。", "The password may have at most 128 characters."),
    ("policy.contains_login", "パスワードにログインIDを含めないでください。", "The password must not contain the login ID."),
    ("policy.too_simple", "英字・数字・記号のうち2種類以上を含めてください。", "Mix at least two of letters, digits and symbols."),
];

/// Texts of the patient, consent, care-team, break-glass and identity screens.
const PATIENT_MESSAGES: &[(&str, &str, &str)] = &[
    ("nav.patients", "患者", "Patients"),
    ("nav.invitations", "チーム招待", "Team invitations"),
    ("nav.emergency", "救急時閲覧", "Emergency access"),
    ("nav.mpi", "名寄せ確認", "Identity review"),
    ("nav.break_glass", "緊急閲覧記録", "Break-glass log"),
    ("nav.consent_categories", "共有除外の区分", "Consent exclusions"),
    ("patients.title", "患者", "Patients"),
    ("patients.register", "患者を登録", "Register a patient"),
    ("patients.new_title", "患者の登録", "Register a patient"),
    ("patients.register_submit", "登録する", "Register"),
    ("patients.query", "氏名・ふりがな・生年月日・患者ID", "Name, reading, birth date or patient ID"),
    ("patients.query_hint", "例：やまだ、1948-05-03", "e.g. やまだ, 1948-05-03"),
    ("patients.none", "ケアチームに参加している患者はいません。", "No patients in your facility's care teams."),
    ("patients.break_glass_notices", "チームの患者が救急時に閲覧されました", "A team patient's summary was opened in an emergency"),
    ("patients.open", "患者を開く", "Open patient"),
    ("patients.duplicate_local_id", "この患者IDはこの施設ですでに登録されています。", "This patient ID is already registered at this facility."),
    ("patients.id_system", "識別子の体系：", "Identifier system:"),
    ("patient.identity", "患者識別", "Patient identification"),
    ("patient.name", "氏名", "Name"),
    ("patient.birth_date", "生年月日", "Date of birth"),
    ("patient.sex", "性別", "Sex"),
    ("patient.local_id", "患者ID", "Patient ID"),
    ("patient.age_suffix", "歳", " y"),
    ("patient.consent", "情報共有の同意", "Consent to share"),
    ("patient.team", "ケアチーム", "Care team"),
    ("patient.registrations", "各施設での登録", "Registrations at each facility"),
    ("patient.source", "登録施設", "Registered by"),
    ("field.local_id", "患者ID（施設内）", "Patient ID (at your facility)"),
    ("field.family_kanji", "姓", "Family name"),
    ("field.given_kanji", "名", "Given name"),
    ("field.family_kana", "姓（ふりがな）", "Family name (kana)"),
    ("field.given_kana", "名（ふりがな）", "Given name (kana)"),
    ("field.previous_family_kanji", "旧姓", "Previous family name"),
    ("field.previous_family_kana", "旧姓（ふりがな）", "Previous family name (kana)"),
    ("field.birth_date", "生年月日", "Date of birth"),
    ("field.sex", "性別", "Sex"),
    ("field.phone", "電話番号", "Phone"),
    ("field.insurance_number", "被保険者番号", "Insurance number"),
    ("field.care_level", "要介護度", "Care level"),
    ("field.scope", "同意の範囲", "Scope"),
    ("field.excluded", "共有しない情報", "Information not to share"),
    ("field.form", "同意の方法", "How consent was given"),
    ("field.signer", "同意者", "Who consented"),
    ("field.proxy_name", "代理人氏名", "Proxy's name"),
    ("field.proxy_relationship", "本人との続柄", "Relationship to the patient"),
    ("field.family_participation", "家族の参加", "Family participation"),
    ("field.family_note", "家族に関する取り決め", "Arrangements about family"),
    ("field.obtained_on", "同意取得日", "Date obtained"),
    ("field.place", "取得場所", "Place obtained"),
    ("field.card_number", "同意カード番号", "Consent card number"),
    ("form.unknown_choice", "選択肢から選んでください", "Choose one of the options"),
    ("consent.title", "同意の管理", "Consent"),
    ("consent.record", "同意を記録する", "Record consent"),
    ("consent.active", "同意あり", "Consent in force"),
    ("consent.withdrawn", "同意撤回", "Consent withdrawn"),
    ("consent.none", "同意の記録なし", "No consent on file"),
    ("consent.none_help", "同意が記録されるまで、他施設との情報共有は行われません。", "Nothing is shared with other facilities until consent is recorded."),
    ("consent.comprehensive", "包括同意（ケアに関わる全施設）", "Comprehensive (every facility in the care team)"),
    ("consent.individual", "個別同意", "Individual (named facilities)"),
    ("consent.individual_needs_facilities", "個別同意では、ケアチームの施設から1つ以上選んでください。", "An individual consent names one or more facilities of the care team."),
    ("consent.excluded", "共有しない情報", "Not shared"),
    ("consent.obtained", "取得", "Obtained"),
    ("consent.withdrawn_at", "撤回の効力発生", "Withdrawal effective"),
    ("consent.form_written", "書面", "Written"),
    ("consent.form_verbal", "口頭", "Verbal"),
    ("consent.by_patient", "本人", "The patient"),
    ("consent.by_proxy", "代理人", "Proxy"),
    ("consent.family_yes", "家族も参加", "Family may take part"),
    ("consent.family_no", "家族は参加しない", "Family does not take part"),
    ("consent.already_active", "有効な同意がすでにあります。先に撤回してください。", "A consent is already in force; withdraw it first."),
    ("consent.bad_date", "日付が正しくありません（未来の日付は不可）。", "Invalid date (no future dates)."),
    ("consent.effective_on", "撤回の効力発生日（空欄は即時）", "Withdrawal takes effect on (empty: now)"),
    ("consent.withdraw", "同意を撤回する", "Withdraw consent"),
    ("consent.form_file", "署名済みの同意書（PDF・JPEG・PNG、5MBまで）", "Signed consent form (PDF, JPEG or PNG, up to 5 MB)"),
    ("consent.form_upload", "同意書を保存", "Save the form"),
    ("consent.form_download", "保存済みの同意書", "Stored form"),
    ("consent.form_missing", "ファイルを選んでください。", "Choose a file."),
    ("consent.form_too_large", "ファイルが大きすぎます（5MBまで）。", "The file is too large (5 MB at most)."),
    ("consent.form_wrong_type", "PDF・JPEG・PNG のファイルだけを保存できます（中身で判定しています）。", "Only PDF, JPEG and PNG files can be stored (judged by their content)."),
    ("consent.form_unreadable", "アップロードを読み取れませんでした", "The upload could not be read"),
    ("team.invited", "招待中", "Invited"),
    ("team.active", "参加中", "Member"),
    ("team.declined", "辞退", "Declined"),
    ("team.left", "離脱", "Left"),
    ("team.mine", "自施設", "Us"),
    ("team.invite", "招待する", "Invite"),
    ("team.invite_label", "招待する施設の施設ID（施設検索で確認できます）", "Facility ID to invite (see the directory)"),
    ("team.note", "招待先への連絡事項", "Note to the invited facility"),
    ("team.unknown_facility", "その施設IDの施設は見つかりません。", "No facility has that ID."),
    ("team.facility_not_active", "その施設は利用停止中または退会済みのため招待できません。", "That facility is suspended or has left the network."),
    ("team.already", "その施設はすでに参加中または招待中です。", "That facility is already a member or invited."),
    ("team.leave", "この患者のケアチームから離脱する", "Leave this patient's care team"),
    ("team.invitations_title", "ケアチームへの招待", "Care-team invitations"),
    ("team.no_invitations", "未回答の招待はありません。", "No open invitations."),
    ("team.invited_by", "招待元：", "Invited by"),
    ("team.accept", "参加する", "Accept"),
    ("team.decline", "辞退する", "Decline"),
    ("emergency.title", "救急時の閲覧（ブレークグラス）", "Emergency access (break-glass)"),
    ("emergency.intro", "救急搬送・救急外来で、ケアチーム外の患者の救急時サマリーを閲覧します。理由の入力が必要です。閲覧は記録され、患者のケアチームに通知されます。", "Open the emergency summary of a patient outside your care teams, for ambulance transport or the ER. A reason is required; the access is recorded and the patient's care team is notified."),
    ("emergency.kana", "患者氏名（ふりがな）", "Patient's name (kana)"),
    ("emergency.reason", "閲覧の理由", "Reason"),
    ("emergency.open", "記録して閲覧する", "Record and open"),
    ("emergency.reason_required", "理由を具体的に入力してください。", "Give a specific reason."),
    ("emergency.kana_required", "氏名をふりがなで入力してください。", "Enter the name in kana."),
    ("emergency.birth_required", "生年月日を入力してください。", "Enter the date of birth."),
    ("emergency.not_found", "一致する患者はいません。氏名と生年月日を確認してください。", "No patient matches. Check the name and date of birth."),
    ("emergency.ambiguous", "複数の患者が一致しました。氏名を正確に入力してください。", "Several patients match. Enter the full name."),
    ("emergency.summary_title", "救急時サマリー", "Emergency summary"),
    ("emergency.banner", "緊急時の閲覧です（ブレークグラス）。閲覧は記録され、ケアチームに通知されています。", "Break-glass access: recorded and notified to the care team."),
    ("emergency.expires", "閲覧期限", "Access expires"),
    ("emergency.allergies", "アレルギー・禁忌", "Allergies and contraindications"),
    ("emergency.medications", "現在の処方", "Current medications"),
    ("emergency.diagnoses", "病名", "Active diagnoses"),
    ("emergency.acp", "ACP・DNARの意思", "ACP / DNAR wishes"),
    ("acp.title", "人生会議（ACP）・DNAR", "Advance care planning (ACP) and DNAR"),
    ("acp.intro", "本人が望む医療・ケアについて、本人・家族等と医療・ケアチームが繰り返し話し合った内容の記録です（厚生労働省「人生の最終段階における医療・ケアの決定プロセスに関するガイドライン」）。記録は書き換えられず、見直しのたびに新しい記録が加わります。", "What the patient, their family and the care team agreed in repeated discussions about the care the patient wants (MHLW guideline on decisions at the end of life). Records are never edited: each review adds a new one."),
    ("acp.current", "現在の意思", "Current wishes"),
    ("acp.none", "ACP・DNARの記録はありません。", "No ACP or DNAR record."),
    ("acp.not_shared", "他施設が記録したACPは、本人の同意によりこの施設とは共有されていません。自施設の記録のみ表示しています。", "ACP records of other facilities are not shared with this facility under the patient's consent; only your facility's records are shown."),
    ("acp.record", "話し合いの内容を記録する", "Record a discussion"),
    ("acp.review", "見直し（新しい記録として保存）", "Review (saved as a new record)"),
    ("acp.form_help", "話し合いで確認した内容を選んでください。まだ決めていない項目は「未定・話し合い中」のままにします。", "Choose what the discussion settled; leave anything not yet decided as “Undecided”."),
    ("acp.wishes", "本人の意向・大切にしていること", "The patient's wishes and values"),
    ("acp.place", "希望する療養・看取りの場所", "Preferred place of care at the end of life"),
    ("acp.stated_by", "意思の表明者", "Stated by"),
    ("acp.surrogate", "代理意思決定者", "Surrogate decision-maker"),
    ("acp.surrogate_name", "代理意思決定者の氏名", "Surrogate's name"),
    ("acp.surrogate_relationship", "本人との続柄", "Relationship to the patient"),
    ("acp.participants", "話し合いの参加者", "Who took part"),
    ("acp.participants_hint", "例：本人、長女、訪問診療医、訪問看護師、ケアマネジャー", "e.g. the patient, eldest daughter, home doctor, visiting nurse, care manager"),
    ("acp.discussed_on", "話し合いの日", "Discussed on"),
    ("acp.next_review", "次回見直し日", "Next review"),
    ("acp.recorded_by", "記録者", "Recorded by"),
    ("acp.save", "記録する", "Save"),
    ("acp.history", "これまでの記録", "Earlier records"),
    ("acp.dnar_note", "心肺停止時に心肺蘇生を行わない意思が示されています。", "The patient does not want resuscitation in cardiac arrest."),
    ("acp.review_due", "見直し期限まで{n}日", "Review due in {n} days"),
    ("acp.review_overdue", "見直し期限を{n}日過ぎています", "Review {n} days overdue"),
    ("acp.reminders", "ACP見直し予定", "ACP reviews due"),
    ("acp.reminders_help", "自施設が記録したACPのうち、30日以内に見直し期限を迎える、または期限を過ぎたもの。", "ACP records your facility wrote whose review is due within 30 days or overdue."),
    ("acp.open", "ACP・DNARを開く", "Open ACP / DNAR"),
    ("notice.acp_saved", "ACP・DNARの記録を保存しました。", "ACP / DNAR record saved."),
    ("emergency.no_records", "共有された記録はありません。", "No shared records."),
    ("emergency.contacts", "連絡先（ケアチーム）", "Contacts (care team)"),
    ("emergency.generated", "作成日時", "Generated"),
    ("emergency.vitals", "最新のバイタル", "Latest vital signs"),
    ("emergency.value", "値", "Value"),
    ("emergency.prescribed", "処方（日付・施設）", "Prescribed (date, facility)"),
    ("emergency.last_dispensed", "最新の調剤（日時・薬局）", "Last dispensed (time, pharmacy)"),
    ("emergency.not_dispensed", "調剤記録なし", "No dispensing recorded"),
    ("emergency.no_prescription", "処方情報なし（薬局の調剤記録）", "No shared prescription (pharmacy record)"),
    ("emergency.not_shared", "この閲覧では共有されない区分です。", "This category is not shared with this access."),
    ("emergency.withheld", "他施設の記録のうち、この画面に表示されない区分", "Categories of other facilities' records not shown here"),
    ("mpi.title", "名寄せの確認", "Identity review"),
    ("mpi.intro", "自動では判断できなかった登録の組です。同一人物か別人かを確認してください。", "Registration pairs the matcher could not decide. Confirm whether they are the same person."),
    ("mpi.empty", "確認待ちの組はありません。", "Nothing to review."),
    ("mpi.weight", "一致度（重み）", "Match weight"),
    ("mpi.probability", "確率", "Probability"),
    ("mpi.new_record", "新しい登録", "New registration"),
    ("mpi.candidate", "候補", "Candidate"),
    ("mpi.same", "同一人物として統合", "Same person: merge"),
    ("mpi.different", "別人", "Different people"),
    ("mpi.break_glass_title", "緊急閲覧（ブレークグラス）の記録", "Break-glass events"),
    ("mpi.no_break_glass", "記録はありません。", "No events."),
    ("mpi.unlink", "別人として切り離す", "Unlink as another person"),
    ("mpi.history", "名寄せの履歴", "Identity link history"),
    ("notice.patient_registered", "患者を登録しました（新規）。", "Patient registered (new)."),
    ("notice.patient_linked", "患者を登録し、ネットワーク上の同一患者と自動で紐付けました。", "Patient registered and linked to the same person in the network."),
    ("notice.patient_review", "患者を登録しました。似た登録があるため、事務局が名寄せを確認します。", "Patient registered; a similar registration exists and the secretariat will review it."),
    ("notice.consent_recorded", "同意を記録しました。", "Consent recorded."),
    ("notice.consent_withdrawn", "同意の撤回を記録しました。", "Withdrawal recorded."),
    ("notice.invited", "施設を招待しました。", "The facility was invited."),
    ("notice.left_team", "ケアチームから離脱しました。", "You left the care team."),
    ("notice.joined_team", "ケアチームに参加しました。", "You joined the care team."),
    ("notice.declined", "招待を辞退しました。", "Invitation declined."),
    ("notice.joined_team_no_consent", "ケアチームに参加しました。本人の同意がこの施設に及ぶと、患者情報が表示されます。", "You joined the care team. The patient's information appears once the consent covers your facility."),
];

/// Texts of the facility administrator's OAuth2 client (system access) screens.
const CLIENT_MESSAGES: &[(&str, &str, &str)] = &[
    ("nav.clients", "システム連携", "API clients"),
    ("clients.title", "システム連携（APIクライアント）", "API clients (system access)"),
    ("clients.intro", "電子カルテなど施設のシステムが、この施設として FHIR API を利用するための認証情報です（OAuth2 クライアントクレデンシャル）。システムによる閲覧・更新も、職員と同じく同意とケアチームに基づいて判断され、すべて記録されます。", "Credentials with which the facility's own systems (EHR, pharmacy system, …) use the FHIR API on the facility's behalf (OAuth2 client credentials). A system's reads and writes pass the same consent and care-team checks as staff, and every one is recorded."),
    ("clients.none", "登録されたクライアントはありません。", "No clients yet."),
    ("clients.name", "名称", "Name"),
    ("clients.client_id", "クライアントID", "Client ID"),
    ("clients.scopes", "スコープ", "Scopes"),
    ("clients.created", "登録日時", "Created"),
    ("clients.active", "有効", "Active"),
    ("clients.revoked", "失効", "Revoked"),
    ("clients.revoke", "失効させる", "Revoke"),
    ("clients.revoke_help", "失効させると、発行済みのアクセストークンも含めて直ちに使えなくなります。元に戻せません。", "Revoking stops the client and every token it holds at once. It cannot be undone."),
    ("clients.new", "クライアントを登録する", "Register a client"),
    ("clients.name_hint", "どのシステムか分かる名前（例：電子カルテ本番系）。100文字以内。", "A name that tells which system it is (e.g. EHR production). Up to 100 characters."),
    ("clients.presets", "よく使う設定", "Common choices"),
    ("clients.preset_read_all", "すべてのデータを読み取る", "Read everything"),
    ("clients.preset_write_all", "診療データを読み書きする", "Read and write clinical data"),
    ("clients.by_group", "データの種類ごとに選ぶ", "Choose by kind of data"),
    ("clients.group", "データの種類", "Kind of data"),
    ("clients.level_read", "読み取り・検索", "Read and search"),
    ("clients.level_write", "作成・更新・削除も", "Also create, update, delete"),
    ("clients.group_patient", "患者・関係者・同意", "Patients, related persons, consent"),
    ("clients.group_lab", "検査・画像", "Tests and imaging"),
    ("clients.group_conditions", "病名・アレルギー", "Conditions and allergies"),
    ("clients.group_medications", "処方・調剤・投与", "Prescriptions, dispensing, administration"),
    ("clients.group_encounters", "受診・処置", "Encounters and procedures"),
    ("clients.group_documents", "文書・ケア計画・連絡", "Documents, care plans, messages"),
    ("clients.group_directory", "組織・医療者・来歴", "Organisations, practitioners, provenance"),
    ("clients.scopes_hint", "上記以外は SMART のスコープを空白区切りで入力できます（例：system/Observation.rs system/Condition.cruds、v1 形式の system/*.read も可）。", "Anything else: SMART scopes separated by spaces (e.g. system/Observation.rs system/Condition.cruds; v1 forms such as system/*.read work too)."),
    ("clients.create", "登録してシークレットを発行", "Register and issue a secret"),
    ("clients.token_endpoint", "トークンエンドポイント", "Token endpoint"),
    ("clients.issued_title", "クライアントを登録しました", "Client registered"),
    ("clients.secret_once", "クライアントシークレットはこの画面に一度だけ表示されます。サーバーにはハッシュ値しか保存されないため、再表示はできません。今すぐシステムの設定に安全に控えてください。紛失した場合は、このクライアントを失効させて新しく登録してください。", "The client secret is shown on this page once only. The server keeps nothing but its hash, so it can never be shown again. Put it into the system's configuration now, by a safe route. If it is lost, revoke this client and register a new one."),
    ("clients.secret", "クライアントシークレット", "Client secret"),
    ("clients.secret_help", "HTTP Basic 認証（クライアントID:シークレット）または client_id・client_secret フォーム項目で送り、grant_type=client_credentials でアクセストークン（有効期間5分）を取得します。", "Send it with HTTP Basic (client ID:secret) or the client_id and client_secret form fields, with grant_type=client_credentials, to obtain an access token valid for 5 minutes."),
    ("clients.bad_scopes", "形式が正しくありません。system/<リソース型または*>.<cruds の組合せ> の形で入力してください（例：system/Observation.rs）。", "Not a valid scope list. Use system/<resource type or *>.<letters of cruds>, e.g. system/Observation.rs."),
    ("clients.no_scopes", "スコープを1つ以上選ぶか入力してください。", "Choose or enter at least one scope."),
    ("clients.too_many_scopes", "スコープが多すぎます（50個まで）。", "Too many scopes (at most 50)."),
    ("field.client_name", "名称", "Name"),
    ("field.scopes", "スコープ", "Scopes"),
    ("field.grant", "データの種類", "Kind of data"),
    ("notice.client_revoked", "クライアントを失効させました。発行済みのトークンも無効になりました。", "The client was revoked; its tokens no longer work."),
    ("notice.client_already_revoked", "このクライアントはすでに失効しています。", "This client was already revoked."),
];

/// The patient record page and its contribution forms (`pages::record`).
const RECORD_MESSAGES: &[(&str, &str, &str)] = &[
    ("record.title", "診療・ケア記録", "Patient record"),
    ("record.open", "診療・ケア記録を見る", "Open the patient record"),
    ("record.to_patient", "患者情報・ケアチーム", "Patient details and care team"),
    ("record.identity_not_shared", "同意がない、または撤回されたため、他施設が登録した氏名などは表示されません。この施設が記録した情報のみ表示しています。", "No consent is in force, so identity details registered by other facilities are not shown. Only what this facility recorded is listed."),
    ("record.own_only", "他施設が記録した情報は表示されていません（同意がない、または撤回されたため）。この施設が記録した情報のみです。", "Information recorded by other facilities is not shown (no consent, or it was withdrawn). Only this facility's own records are listed."),
    ("record.not_shared", "同意により共有されない情報", "Not shared under the consent"),
    ("record.truncated", "件数が多いため、一部のみ表示しています。", "There are too many items; only part of the record is shown."),
    ("record.summary", "記録の概要", "Record summary"),
    ("record.none", "記録はありません。", "Nothing recorded."),
    ("record.source", "記録施設", "Recorded by"),
    ("record.unknown_source", "不明な施設", "Unknown facility"),
    ("record.conditions", "診断", "Diagnoses"),
    ("record.allergies", "アレルギー", "Allergies"),
    ("record.medications", "処方・投薬", "Prescriptions and medication"),
    ("record.lab", "検査結果", "Laboratory results"),
    ("record.vitals", "バイタル", "Vital signs"),
    ("record.documents", "文書・画像", "Documents and images"),
    ("record.encounters", "受診歴", "Encounters"),
    ("record.condition_name", "病名", "Diagnosis"),
    ("record.code", "コード", "Code"),
    ("record.onset", "発症日", "Onset"),
    ("record.status", "状態", "Status"),
    ("record.substance", "原因物質", "Substance"),
    ("record.allergy_category", "分類", "Category"),
    ("record.reaction", "症状", "Reaction"),
    ("record.criticality", "重篤度", "Criticality"),
    ("record.recorded", "記録日", "Recorded"),
    ("record.prescribed", "処方日", "Prescribed"),
    ("record.dispenses", "薬局の調剤記録", "Dispensing by pharmacies"),
    ("record.dispenses_other", "調剤記録（処方と紐づかないもの）", "Dispensing records not linked to a prescription shown here"),
    ("record.handed_over", "交付日時", "Handed over"),
    ("record.drug", "薬剤", "Drug"),
    ("record.quantity", "数量", "Quantity"),
    ("record.dosage", "用法", "Directions"),
    ("record.days_suffix", "日分", " days"),
    ("record.test", "検査項目", "Test"),
    ("record.range", "基準値", "Reference range"),
    ("record.flag_help", "H：基準値より高い、L：基準値より低い、A：異常", "H: above the reference range, L: below it, A: abnormal"),
    ("record.positive", "陽性", "Positive"),
    ("record.negative", "陰性", "Negative"),
    ("record.vital", "項目", "Measurement"),
    ("record.period", "期間", "Period"),
    ("record.encounter_class", "区分", "Class"),
    ("record.encounter_kind", "種別・診療科", "Type and department"),
    ("record.reason", "理由", "Reason"),
    ("record.download", "開く・ダウンロード", "Open or download"),
    ("record.kind_pdf", "PDF文書", "PDF document"),
    ("record.kind_image", "画像", "Image"),
    ("record.save", "記録する", "Save"),
    ("record.add_vitals", "バイタルを記録する", "Record vital signs"),
    ("record.add_dispense", "調剤記録を登録する", "Record a dispensing"),
    ("record.add_note", "看護・ケア記録を書く", "Write a care note"),
    ("record.add_attachment", "ファイルを添付する（写真・PDF）", "Attach a file (photo or PDF)"),
    ("record.measured_at", "測定日時", "Measured at"),
    ("record.vitals_help", "測定した項目だけ入力してください。血圧は収縮期と拡張期の両方が必要です。", "Fill in only what you measured. Blood pressure needs both systolic and diastolic."),
    ("record.vitals_empty", "少なくとも1つの項目を入力してください。", "Enter at least one measurement."),
    ("record.bp_both", "血圧は収縮期と拡張期の両方を入力してください。", "Blood pressure needs both the systolic and the diastolic value."),
    ("record.bp_order", "拡張期血圧は収縮期血圧より低い値にしてください。", "The diastolic pressure must be lower than the systolic."),
    ("record.not_a_number", "数値で入力してください。", "Enter a number."),
    ("record.required", "入力してください。", "This field is required."),
    ("record.bad_time", "日時を正しく入力してください（例 2026-11-22 13:05）。", "Enter a valid date and time (e.g. 2026-11-22 13:05)."),
    ("record.future_time", "未来の日時は記録できません。", "A future time cannot be recorded."),
    ("record.too_early", "生年月日より前の日時は記録できません。", "The time is before the patient's date of birth."),
    ("record.bad_drug_code", "YJコード（12桁）またはHOTコード（7・9・13桁）を入力してください。", "Enter a YJ code (12 characters) or a HOT code (7, 9 or 13 digits)."),
    ("record.drug_code_help", "任意。YJコードまたはHOTコード。", "Optional: YJ or HOT code."),
    ("record.no_prescription", "処方を指定しない", "Not linked to a prescription"),
    ("record.unknown_reference", "指定した処方が見つかりません。", "The chosen prescription was not found."),
    ("record.note_nurse", "看護記録", "Nursing note"),
    ("record.note_progress", "経過記録", "Progress note"),
    ("record.note_too_long", "4000文字以内で入力してください。", "At most 4000 characters."),
    ("record.bad_characters", "使用できない制御文字が含まれています。", "Contains control characters that cannot be stored."),
    ("record.file", "ファイル", "File"),
    ("record.upload", "添付する", "Upload"),
    ("record.upload_help", "PDF・JPEG・PNG（内容で判定します）。最大", "PDF, JPEG or PNG (judged by content). At most"),
    ("record.upload_missing", "ファイルを選んでください。", "Choose a file."),
    ("record.upload_too_large", "ファイルが大きすぎます（10 MB まで）。", "The file is too large (10 MB at most)."),
    ("record.upload_wrong_type", "PDF・JPEG・PNG 以外のファイルは添付できません（拡張子ではなく内容で判定しています）。", "Only PDF, JPEG and PNG files can be attached (judged by content, not by the file name)."),
    ("record.upload_unreadable", "ファイルを受け取れませんでした", "The upload could not be read"),
    ("vital.bp", "血圧", "Blood pressure"),
    ("vital.systolic", "収縮期血圧", "Systolic BP"),
    ("vital.diastolic", "拡張期血圧", "Diastolic BP"),
    ("vital.pulse", "脈拍", "Pulse"),
    ("vital.spo2", "SpO2", "SpO2"),
    ("vital.temperature", "体温", "Temperature"),
    ("vital.weight", "体重", "Weight"),
    ("vital.respiratory_rate", "呼吸数", "Respiratory rate"),
    ("cond.active", "治療中", "Active"),
    ("cond.recurrence", "再発", "Recurrence"),
    ("cond.relapse", "再燃", "Relapse"),
    ("cond.inactive", "非活動", "Inactive"),
    ("cond.remission", "寛解", "Remission"),
    ("cond.resolved", "治癒・終了", "Resolved"),
    ("cond.suspected", "疑い", "Suspected"),
    ("allergy.food", "食物", "Food"),
    ("allergy.medication", "薬剤", "Medication"),
    ("allergy.environment", "環境", "Environment"),
    ("allergy.biologic", "生物由来", "Biologic"),
    ("allergy.high", "高", "High"),
    ("allergy.low", "低", "Low"),
    ("allergy.unknown", "評価不能", "Unable to assess"),
    ("allergy.severe", "重度", "severe"),
    ("allergy.moderate", "中等度", "moderate"),
    ("allergy.mild", "軽度", "mild"),
    ("med.active", "有効", "Active"),
    ("med.completed", "終了", "Completed"),
    ("med.stopped", "中止", "Stopped"),
    ("med.cancelled", "取消", "Cancelled"),
    ("med.on_hold", "保留", "On hold"),
    ("med.draft", "下書き", "Draft"),
    ("med.error", "誤登録", "Entered in error"),
    ("enc.amb", "外来", "Outpatient"),
    ("enc.imp", "入院", "Inpatient"),
    ("enc.emer", "救急", "Emergency"),
    ("enc.hh", "在宅・訪問", "Home visit"),
    ("enc.vr", "オンライン", "Virtual"),
    ("enc.planned", "予定", "Planned"),
    ("enc.in_progress", "進行中", "In progress"),
    ("enc.finished", "終了", "Finished"),
    ("enc.cancelled", "取消", "Cancelled"),
    ("field.prescription", "対応する処方", "Prescription dispensed"),
    ("field.drug", "薬剤名", "Drug name"),
    ("field.drug_code", "薬剤コード", "Drug code"),
    ("field.quantity", "数量", "Quantity"),
    ("field.unit", "単位", "Unit"),
    ("field.days", "日数", "Days' supply"),
    ("field.dosage", "用法", "Directions"),
    ("field.handed_over", "交付日時", "Handed over at"),
    ("field.note", "メモ", "Note"),
    ("field.note_kind", "記録の種類", "Kind of note"),
    ("field.note_text", "記録内容", "Note"),
    ("field.title", "表題", "Title"),
    ("notice.record_saved", "記録しました。", "Recorded."),
];

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        MESSAGES
            .iter()
            .chain(PATIENT_MESSAGES)
            .chain(CLIENT_MESSAGES)
            .chain(RECORD_MESSAGES)
            .map(|(k, ja, en)| (*k, (*ja, *en)))
            .collect()
    })
}

/// A translator for one language.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text for `key`; an unknown key shows itself, so a gap is visible, never blank.
    pub fn t(&self, key: &str) -> &'static str {
        match table().get(key) {
            Some((ja, en)) => match self.0 {
                Lang::Ja => ja,
                Lang::En => en,
            },
            None => {
                tracing::warn!(key, "missing UI text");
                "?"
            }
        }
    }

    pub fn has(&self, key: &str) -> bool {
        table().contains_key(key)
    }

    /// The label of a form field, for error messages.
    pub fn field(&self, name: &str) -> String {
        let key = format!("field.{name}");
        if self.has(&key) {
            self.t(&key).to_string()
        } else {
            name.to_string()
        }
    }

    pub fn password_policy(&self, e: &PasswordPolicyError) -> String {
        self.t(match e {
            PasswordPolicyError::TooShort => "policy.too_short",
            PasswordPolicyError::TooLong => "policy.too_long",
            PasswordPolicyError::ContainsLoginId => "policy.contains_login",
            PasswordPolicyError::TooSimple => "policy.too_simple",
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("…")` in templates and handlers, plus the keys built with format!, exists.
    #[test]
    fn every_used_key_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut used = Vec::new();
        for dir in ["templates", "src", "src/pages"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, _) in text.match_indices("t(\"") {
                    // `t(` as a word of its own, not the tail of `audit(` or `format(`.
                    if text[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                    {
                        continue;
                    }
                    let rest = &text[i + 3..];
                    let key: String = rest.chars().take_while(|c| *c != '"').collect();
                    if key.contains('.') && !key.contains('{') {
                        used.push((path.display().to_string(), key));
                    }
                }
            }
        }
        assert!(
            used.len() > 100,
            "scanner found too few keys: {}",
            used.len()
        );
        for o in ["success", "failure", "denied"] {
            used.push(("outcome".into(), format!("outcome.{o}")));
        }
        for a in ["yes", "no", "unknown"] {
            used.push(("answer".into(), format!("answer.{a}")));
        }
        for s in ["invited", "active", "declined", "left"] {
            used.push(("team".into(), format!("team.{s}")));
        }
        for s in ["written", "verbal"] {
            used.push(("consent".into(), format!("consent.form_{s}")));
        }
        for s in ["in_house", "vendor", "none"] {
            used.push(("it_staff".into(), format!("it_staff.{s}")));
        }
        for (g, _) in crate::pages::clients::GROUPS {
            used.push(("clients".into(), format!("clients.group_{g}")));
        }
        let missing: Vec<_> = used
            .iter()
            .filter(|(_, k)| !table().contains_key(k.as_str()))
            .collect();
        assert!(missing.is_empty(), "missing UI texts: {missing:?}");
    }

    #[test]
    fn keys_are_unique_and_both_languages_filled() {
        let mut seen = std::collections::HashSet::new();
        for (k, ja, en) in MESSAGES
            .iter()
            .chain(PATIENT_MESSAGES)
            .chain(CLIENT_MESSAGES)
            .chain(RECORD_MESSAGES)
        {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!ja.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(Tr(Lang::Ja).t("nav.home"), "ホーム");
        assert_eq!(Tr(Lang::En).t("nav.home"), "Home");
    }
}
