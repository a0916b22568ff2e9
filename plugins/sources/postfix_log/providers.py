"""The receivers as data: mailbox providers by recipient domain and MX host, and the reply
texts that say why they refuse mail, each with its cause and a sample of the real text.

The samples are the receivers' own texts as public bounce reports, Postfix logs and postmaster
pages show them (the sending address replaced by 192.0.2.25), each with where it was seen
(``Reply.source``; "unverified" where no real reply was found); tests/test_postfix_log.py
classifies each sample and expects its rule. Rules are tried in order, the first match wins:
the receivers' own codes first, then authentication, throttling, recipient and generic words.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

#: Why a delivery was refused, in the order the long output lists them.
CAUSES: tuple[str, ...] = (
    "reputation",
    "rate",
    "recipient",
    "policy",
    "tls",
    "dns",
    "connection",
    "other",
)
#: How the output names each cause.
CAUSE_TEXT = {
    "reputation": "reputation or block",
    "rate": "rate limited",
    "recipient": "recipient",
    "policy": "policy/authentication",
    "tls": "TLS",
    "dns": "DNS",
    "connection": "connection",
    "other": "other",
}


@dataclass(frozen=True)
class Provider:
    """A mailbox provider: its name in the output, its perfdata key, how to recognise it."""

    name: str
    key: str
    #: Recipient domains, exact.
    domains: tuple[str, ...] = ()
    #: First labels of a domain under any top-level domain: "hotmail" is hotmail.co.uk too.
    brands: tuple[str, ...] = ()
    #: Ends of MX host names: a domain hosted there (Google Workspace, Microsoft 365) counts.
    mx: tuple[str, ...] = ()


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "Google",
        "google",
        domains=("gmail.com", "googlemail.com"),
        mx=(".google.com", ".googlemail.com", ".gmail-smtp-in.l.google.com"),
    ),
    Provider(
        "Yahoo/AOL",
        "yahoo",
        domains=("ymail.com", "rocketmail.com", "aol.com", "aim.com", "verizon.net", "aol.de"),
        brands=("yahoo",),
        mx=(".yahoodns.net", ".yahoo.com", ".aol.com"),
    ),
    Provider(
        "Microsoft",
        "microsoft",
        domains=("msn.com", "passport.com", "windowslive.com"),
        brands=("outlook", "hotmail", "live"),
        mx=(".protection.outlook.com", ".hotmail.com", ".outlook.com"),
    ),
    Provider(
        "Apple",
        "apple",
        domains=("icloud.com", "me.com", "mac.com"),
        mx=(".mail.icloud.com", ".icloud.com"),
    ),
    Provider(
        "GMX/WEB.DE",
        "gmx",
        domains=("web.de", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "mail.com"),
        mx=(".gmx.net", ".web.de", ".mail.com"),
    ),
    Provider(
        "T-Online",
        "tonline",
        domains=("t-online.de", "magenta.de"),
        mx=(".t-online.de",),
    ),
    Provider(
        "Orange",
        "orange",
        domains=("orange.fr", "wanadoo.fr", "voila.fr", "orange.com"),
        mx=(".orange.fr",),
    ),
    Provider(
        "Comcast",
        "comcast",
        domains=("comcast.net", "xfinity.com"),
        mx=(".comcast.net",),
    ),
    Provider(
        "Mail.ru",
        "mailru",
        domains=("mail.ru", "inbox.ru", "list.ru", "bk.ru", "internet.ru"),
        mx=(".mail.ru",),
    ),
    Provider(
        "Yandex",
        "yandex",
        domains=("yandex.ru", "yandex.com", "ya.ru", "yandex.by", "yandex.kz", "yandex.ua"),
        mx=(".yandex.ru", ".yandex.net"),
    ),
)
OTHER = Provider("other", "other")
BY_KEY = {provider.key: provider for provider in (*PROVIDERS, OTHER)}
#: --critical-providers by default: the largest mailbox providers of an ISP's customers.
MAJOR: tuple[str, ...] = ("google", "microsoft", "yahoo", "apple", "gmx")

_BY_DOMAIN = {domain: p for p in PROVIDERS for domain in p.domains}
_BY_BRAND = {brand: p for p in PROVIDERS for brand in p.brands}


@functools.lru_cache(maxsize=65536)
def provider_of(domain: str, host: str = "") -> Provider:
    """The provider of a recipient domain, else of the MX host that answered, else OTHER."""
    domain = domain.lower().rstrip(".")
    found = _BY_DOMAIN.get(domain)
    if found is not None:
        return found
    brand, _, rest = domain.partition(".")
    # hotmail.fr, yahoo.co.uk: a brand and a public suffix of one or two short labels.
    labels = rest.split(".")
    if brand in _BY_BRAND and rest and len(labels) <= 2 and all(len(x) <= 3 for x in labels):
        return _BY_BRAND[brand]
    host = "." + host.lower().rstrip(".")
    for provider in PROVIDERS:
        if host.endswith(provider.mx):
            return provider
    return OTHER


@dataclass(frozen=True)
class Reply:
    """A reply text a receiver sends, what it means, and a sample of it."""

    name: str
    cause: str
    #: A regular expression (lower case) found in the lowered reply, continuation codes removed.
    pattern: str
    #: The real text (the sending address made 192.0.2.25, an address made example.*).
    sample: str
    #: Where the wording was seen: a URL, "seen in ...", "generic words", or "unverified: ...".
    source: str = ""


REPLIES: tuple[Reply, ...] = (
    # -- Microsoft (outlook.com, hotmail, live, Microsoft 365) ---------------------------------
    Reply(
        "microsoft-block-list",
        "reputation",
        r"\(a?s3140\)|\(a?s3150\)|part of their network is on our block list|\bsc-001\b|"
        r"\bdy-001\b|does not relay dynamically-assigned ip",
        "550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3140). "
        "You can also refer your provider to "
        "http://mail.live.com/mail/troubleshooting.aspx#errors. "
        "[HK2APC01FT029.eop-APC01.prod.protection.outlook.com]",
        "https://github.com/roundcube/roundcubemail/issues/6858 (S3140, a Postfix bounce); "
        "S3150: https://github.com/MicrosoftDocs/windows-dev-docs/issues/5744; AS3140: "
        "https://github.com/root-io/vmail/issues/91; SC-001: "
        "https://github.com/PHPMailer/PHPMailer/issues/837; DY-001: "
        "https://github.com/warmshowers/Warmshowers.org/issues/240",
    ),
    Reply(
        "microsoft-banned-ip",
        "reputation",
        r"(?<![\d.])5\.7\.606(?!\.?\d)|banned sending ip|(?<![\d.])5\.7\.511(?!\.?\d)|"
        r"banned sender",
        "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from "
        "this list please visit https://sender.office.com/ and follow the directions. For more "
        "information please go to http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430)",
        "https://pastebin.com/EH1TUb0X (a Postfix bounce), https://pastebin.com/JxYau839; "
        "5.7.511 banned sender: https://pastebin.com/JEGXAxrE",
    ),
    Reply(
        "microsoft-traffic-refused",
        "reputation",
        r"(?<![\d.])5\.7\.708(?!\.?\d)|traffic not accepted from this ip",
        "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. "
        "For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 "
        "AS(7171)",
        "https://mxio.io/learn/errors/ip-blocked-o365-5-7-708, AS(7171): "
        "https://www.simplefastwebsites.com/errors/email/"
        "smtp-550-5-7-708-m365-traffic-not-accepted-from-ip/",
    ),
    Reply(
        "microsoft-ip-reputation",
        "reputation",
        r"(?<![\d.])4\.7\.65[01](?!\.?\d)|rate limited due to ip reputation",
        "451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to IP "
        "reputation. For e-mail delivery information, see https://postmaster.live.com (S3113) "
        "[VI1EUR06FT038.eop-eur06.prod.protection.outlook.com]",
        "https://github.com/sendgrid/docs/issues/6275; 4.7.651 (S3114): "
        "https://www.suped.com/email-deliverability/answers/what-causes-temporary-rate-limiting"
        "-due-to-ip-reputation-with-microsoft-email-servers",
    ),
    Reply(
        "microsoft-spamhaus",
        "reputation",
        r"blocked using spamhaus",
        "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. To "
        "request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.25 "
        "(AS3130). [VE1EUR01FT062.eop-EUR01.prod.protection.outlook.com]",
        "https://github.com/sendgrid/docs/issues/6275",
    ),
    Reply(
        "microsoft-hourly-limit",
        "rate",
        r"\brp-001\b|limits for how many messages can be sent",
        "421 RP-001 (BAY004-MC1F14) Unfortunately, some messages from 192.0.2.25 weren't sent. "
        "Please try again. We have limits for how many messages can be sent per hour and per "
        "day. You can also refer to http://mail.live.com/mail/troubleshooting.aspx#errors.",
        'unverified: only the code "421 RP-001" was seen (a public list of bounce replies); '
        "the wording follows SC-001's, no real reply found",
    ),
    Reply(
        "microsoft-server-busy",
        "rate",
        r"(?<![\d.])4\.7\.500(?!\.?\d)|server busy\. please try again later",
        "451 4.7.500 Server busy. Please try again later from [192.0.2.25]. (S77714) "
        "[BL6PEPF0001AB50.namprd04.prod.outlook.com 2024-07-14T14:44:43.083Z "
        "08DCA36F759CD546]",
        "https://www.suped.com/learn/email-deliverability/"
        "what-causes-office365-temp-fails-and-how-can-they-be-resolved",
    ),
    Reply(
        "microsoft-dmarc",
        "policy",
        r"(?<![\d.])5\.7\.509(?!\.?\d)|does not pass dmarc",
        "550 5.7.509: Access denied, sending domain example.net does not pass DMARC "
        "verification and has a DMARC policy of reject",
        "https://ourcloudnetwork.com/how-to-fix-error-550-5-7-509-access-denied-in-exchange-"
        "online/, https://www.itechtics.com/sending-domain-dmarc-failure/",
    ),
    Reply(
        "microsoft-recipient",
        "recipient",
        r"recipientnotfound|mailbox unavailable \(s2017062302\)",
        "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[SA2PEPF00003F67.namprd04.prod.outlook.com 2025-12-27T18:20:54.905Z 08DE41AB68FE2DF5]",
        "seen in many public bounce samples (e.g. outlook-com.olc.protection.outlook.com "
        "replies quoted in test data); RecipientNotFound: "
        "https://github.com/gregkh/usbutils/issues/145",
    ),
    # -- Google (gmail.com, Google Workspace) ------------------------------------------------
    Reply(
        "google-unsolicited-rate",
        "reputation",
        r"unusual rate of (?:unsolicited )?mail",
        "421-4.7.0 [192.0.2.25      15] Our system has detected an unusual rate of 421-4.7.0 "
        "unsolicited mail originating from your IP address. To protect our 421-4.7.0 users "
        "from spam, mail sent from your IP address has been temporarily 421-4.7.0 rate "
        "limited. Please visit 421-4.7.0 "
        "https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.0 review "
        "our Bulk Email Senders Guidelines. p4si3522070uam.9 - gsmtp",
        "https://pastebin.com/6G7q8H39; blocked (550-5.7.1, UnsolicitedIPError): "
        "https://pastebin.com/SWVXknth (a Postfix bounce); the 4.7.28 form for an SPF "
        'domain ("unusual rate of mail originating from your SPF domain") seen in public notes',
    ),
    Reply(
        "google-low-reputation",
        "reputation",
        r"low reputation of the sending",
        "421-4.7.0 [192.0.2.25      15] Our system has detected that this message is 421-4.7.0 "
        "suspicious due to the very low reputation of the sending IP address. 421-4.7.0 To "
        "protect our users from spam, mail sent from your IP address has 421-4.7.0 been "
        "temporarily rate limited. Please visit 421 4.7.0 for more information.",
        "https://discuss.vultr.com/discussion/1031/gmail-is-blocking-my-email",
    ),
    Reply(
        "google-likely-unsolicited",
        "reputation",
        r"likely unsolicited mail",
        "550-5.7.1 [192.0.2.25      12] Our system has detected that this message is 550-5.7.1 "
        "likely unsolicited mail. To reduce the amount of spam sent to Gmail, 550-5.7.1 this "
        "message has been blocked. Please visit 550 5.7.1 "
        "https://support.google.com/mail/answer/188131 for more information. "
        "dh9si2656259wib.8 - gsmtp",
        "https://pastebin.com/UaXB41uS",
    ),
    Reply(
        "google-ip-not-authorized",
        "reputation",
        r"not authorized to send email directly to our servers",
        "550-5.7.1 [192.0.2.25] The IP you're using to send mail is not authorized to 550-5.7.1 "
        "send email directly to our servers. Please use the SMTP relay at your 550-5.7.1 "
        "service provider instead. For more information, go to 550 5.7.1  "
        "https://support.google.com/mail/?p=NotAuthorizedError "
        "d2e1a72fcca58-715e57a0f50si1104d2710b3a.328 - gsmtp",
        "https://github.com/iredmail/iRedMail/issues/264 (a Postfix line), "
        "https://github.com/Mailu/Mailu/issues/2599",
    ),
    Reply(
        "google-unauthenticated",
        "policy",
        r"sender is unauthenticated|does not have authentication information|"
        r"(?<![\d.])5\.7\.26(?!\.?\d)",
        "550-5.7.26 This mail has been blocked because the sender is unauthenticated.",
        'https://www.itechtics.com/sending-domain-dmarc-failure/; the older 5.7.1 "does not '
        'have authentication information": https://pastebin.com/vyFg8hz0',
    ),
    Reply(
        "google-no-such-user",
        "recipient",
        r"email account that you tried to reach (?:does not exist|is (?:disabled|over quota|"
        r"inactive))",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 "
        "unnecessary spaces. Learn more at 550 5.1.1 "
        "https://support.google.com/mail/?p=NoSuchUser 7-v6si8057303wrp.401 - gsmtp",
        "https://pastebin.com/DPUU80Xa (a Postfix bounce); disabled, over quota, inactive: "
        "unverified wordings",
    ),
    Reply(
        "google-recipient-rate",
        "recipient",
        r"receiving e?mail at a rate that",
        "450 4.2.1 The user you are trying to contact is receiving mail at a rate that "
        "prevents additional messages from being delivered. Please resend your message at a "
        "later time. If the user is able to receive mail at that time, your message will be "
        "delivered. For more information, please visit "
        "https://support.google.com/mail/?p=ReceivingRate - gsmtp",
        "https://smtp.codes/450 (Google), https://support.google.com/a/answer/3726730",
    ),
    # -- Yahoo / AOL ----------------------------------------------------------------------
    Reply(
        "yahoo-permanently-deferred",
        "reputation",
        r"\[tss(?:0[369]|11)\]|will be permanently deferred",
        "553 5.7.2 [TSS09] All messages from 192.0.2.25 will be permanently deferred; "
        "Retrying will NOT succeed",
        "https://www.suped.com/knowledge/email-deliverability/troubleshooting/"
        "what-causes-yahoo-to-return-tss09-error-and-how-to-resolve-it; TSS06: "
        "https://github.com/hardware/mailserver/issues/206",
    ),
    Reply(
        "yahoo-complaints",
        "reputation",
        r"\[(?:tss0[45]|ipts0[45])\]|deferred due to (?:unexpected volume or )?user complaints",
        "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected "
        "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        "https://github.com/tutao/tutanota/issues/7113 (a Postfix bounce); TSS05, IPTS04, "
        "IPTS05: https://github.com/KumoCorp/kumomta/pull/376; the older wording: "
        "https://github.com/Mailu/Mailu/issues/1458",
    ),
    Reply(
        "yahoo-policy",
        "policy",
        r"(?:message|email) not accepted for policy reasons",
        "554 5.7.9 Message not accepted for policy reasons. See "
        "http://help.yahoo.com/l/us/yahoo/mail/postmaster/errors/postmaster-28.html",
        "seen in public bounce-classifier tests and sisimai's data (with [PH01] \"Email not "
        "accepted for policy reasons\"); SendGrid's docs tie it to DMARC (policy, not "
        "reputation)",
    ),
    Reply(
        "yahoo-no-account",
        "recipient",
        r"doesn't have a [a-z0-9.-]{1,40} account",
        "554 delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] "
        "- mta1543.mail.ne1.yahoo.com",
        "seen in Postmark's bounce examples and sisimai's data (public code)",
    ),
    # -- Apple (iCloud, Proofpoint-filtered) ----------------------------------------------
    Reply(
        "apple-blocked",
        "reputation",
        r"support\.proofpoint\.com/dnsbl|\[cs0[12]\]|\[hm08\]",
        "550 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=192.0.2.25",
        "an mx6.mail.icloud.com reply in a Postfix line quoted in public test code; [CS01]: "
        "https://smtp.codes/icloud; [HM08], [CS02]: https://www.suped.com/knowledge/"
        "email-deliverability/troubleshooting/what-causes-apple-email-bounces-and-how-can-i-"
        "fix-them",
    ),
    # -- GMX / WEB.DE ------------------------------------------------------------------
    Reply(
        "gmx-block-listed",
        "reputation",
        r"ip address is black ?listed|/error-messages\?ip=[^&\s]{1,60}&c=bip\b",
        "554-gmx.net (mxgmx116) Nemesis ESMTP Service not available 554-No SMTP service "
        "554-IP address is black listed. 554 For explanation visit "
        "https://postmaster.gmx.net/en/error-messages?ip=192.0.2.25&c=bip",
        "https://github.com/anujtenani/goaffpro/issues/61 (the same server's c=rdns for a "
        "bad PTR: https://github.com/EDSM-NET/FrontEnd/issues/21)",
    ),
    # -- T-Online -----------------------------------------------------------------------
    Reply(
        "tonline-blocked",
        "reputation",
        r"tosa@rx\.t-online\.de|toda@rx\.t-online\.de",
        "554 IP=192.0.2.25 - A problem occurred. (Ask your postmaster for help or to contact "
        "tosa@rx.t-online.de to clarify.) (BL)",
        "https://github.com/mailcow/mailcow-dockerized/issues/2639; the (DIAL) form with "
        "toda@: https://github.com/chatmail/provider-db/issues/280",
    ),
    # -- Orange -------------------------------------------------------------------------
    Reply(
        "orange-refused",
        "reputation",
        r"\bofr_999\b|service refuse\. veuillez essayer plus tard",
        "421 mwinf5c20 ME Service refuse. Veuillez essayer plus tard. Service refused, please "
        "try later. OFR_999 [999]",
        "pieces as quoted in https://www.suped.com/knowledge/email-deliverability/technical/"
        "what-causes-email-delays-and-ofr_999-errors-when-sending-to-orangefr and "
        "https://bentonow.com/smtp-errors/orange (no whole real reply found)",
    ),
    # -- Comcast ------------------------------------------------------------------------
    Reply(
        "comcast-blocked",
        "reputation",
        r"comcast block for spam|smtp-error-codes\.php#bl\d+",
        "554 imta14.emeryville.ca.mail.comcast.net comcast 192.0.2.25 Comcast block for spam.  "
        "Please see http://postmaster.comcast.net/smtp-error-codes.php#BL000000",
        "sisimai's test data (public code); "
        "https://github.com/ActiveCampaign/smtp-field-manual/pull/65",
    ),
    Reply(
        "comcast-rate",
        "rate",
        r"smtp-error-codes\.php#rl\d+",
        "421 4.1.0 192.0.2.25 Throttled - try again later. Please see "
        "https://postmaster.comcast.net/smtp-error-codes.php#RL000003",
        "seen in public bounce-classifier test data (RL000003, RL000010)",
    ),
    # -- Mail.ru, Yandex --------------------------------------------------------------
    Reply(
        "mailru-spam",
        "reputation",
        r"spam message rejected\. please visit|help\.mail\.ru/notspam",
        "550 spam message rejected. Please visit "
        "http://help.mail.ru/notspam-support/id?c=37o1uvXUfWYxWJiJJ-wYxPhLrs9SgNsqDKLqJ1_v5c0HA "
        "or  report details to abuse@corp.mail.ru. Error code: "
        "BA35BADF667DD4F589985831C418EC27CFAE4BF82ADB805227EAA20CCDE5EF5F. ID: 0",
        "an mxs.mail.ru reply in a Postfix line and mail testers' transcripts (public code)",
    ),
    Reply(
        "yandex-spam",
        "reputation",
        r"suspicion of spam",
        "554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc "
        "1631900360-h4Ajl35YEe-dK78OYi4",
        "https://github.com/chatmail/provider-db/issues/205",
    ),
    # -- Blocklists anyone uses ---------------------------------------------------------
    Reply(
        "dnsbl",
        "reputation",
        r"spamhaus|spamcop|barracuda|\bsorbs\b|blocked using|black ?list|block ?list|\brbl\b|"
        r"\bdnsbl\b",
        "554 5.7.1 Service unavailable; Client host [192.0.2.25] blocked using "
        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.25",
        "Postfix's own default_rbl_reply (postconf(5)), as any Postfix receiver sends it: "
        "https://github.com/simple-login/app/pull/2674",
    ),
    # -- Generic texts: words, not one receiver's reply ------------------------------------
    Reply(
        "authentication",
        "policy",
        r"\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|reverse dns|\bptr\b",
        "550-5.7.1 [192.0.2.25] The IP address sending this message does not have a PTR "
        "550-5.7.1 record setup. As a policy, Gmail does not accept messages from IPs "
        "550-5.7.1 with missing PTR records.",
        "generic words; the sample is Gmail's: https://pastebin.com/Rj7iXShc (a Postfix bounce)",
    ),
    Reply(
        "recipient-rate",
        "recipient",
        r"receiving e?mail too quickly",
        "450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please "
        "resend your message at a later time.",
        "https://support.google.com/a/answer/3726730 (Google's table, in every language)",
    ),
    Reply(
        "throttled",
        "rate",
        r"rate.?limit|too many (?:connections|messages|sessions|recipients|concurrent)|"
        r"throttl|too fast|slow down|try again later, closing connection|"
        r"exceeded the (?:rate|limit)|sending rate",
        "421 OFR004_104 Trop de connexions, veuillez verifier votre configuration / Too many "
        "connections, slow down",
        "generic words; the sample is Orange's: https://bentonow.com/smtp-errors/orange",
    ),
    Reply(
        "no-such-recipient",
        "recipient",
        r"(?<![\d.])(?:5\.1\.[0-6]|[45]\.2\.2)(?!\.?\d)|user unknown|unknown user|no such user|"
        r"does ?n[o']t "
        r"exist|mailbox (?:unavailable|not found|full|is full|disabled)|over ?quota|"
        r"quota exceeded|recipient not found|invalid recipient|account (?:is )?(?:disabled|"
        r"inactive|suspended)",
        "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual "
        "mailbox table",
        "generic words; the sample is Postfix's own reject (virtual_mailbox_maps)",
    ),
    Reply(
        "spam",
        "reputation",
        r"\bspam\b|unsolicited|reputation",
        "554 5.7.1 Spam message rejected",
        "generic words; the sample is rspamd's reject: https://github.com/rspamd/rspamd/issues/"
        "5343",
    ),
    # -- Postfix's own texts: no reply, the connection failed ---------------------------
    Reply(
        "tls",
        "tls",
        r"\btls\b|\bssl\b|certificate|handshake",
        "Cannot start TLS: handshake failure",
        "Postfix's own text (smtp_proto.c)",
    ),
    Reply(
        "dns",
        "dns",
        r"name service error|host or domain name not found|\bdns\b|mx records? "
        r"(?:not found|for)|host not found",
        "Host or domain name not found. Name service error for name=example.invalid type=MX: "
        "Host not found, try again",
        "Postfix's own text (smtp_addr.c)",
    ),
    Reply(
        "connection",
        "connection",
        r"connection timed out|connection refused|no route to host|network is unreachable|"
        r"lost connection with|conversation with .{1,300}? timed out|connection reset|"
        r"host is down|^connect to ",
        "connect to mx.example.org[198.51.100.7]:25: Connection timed out",
        "Postfix's own text (smtp_connect.c)",
    ),
)
#: Status codes in a pattern are written ``(?<![\d.])5\.1\.1(?!\.?\d)``: never inside an
#: address (10.5.1.3 holds "5.1.3") or a longer code. Patterns are lower case: the reply is
#: lowered once, and literal patterns are found at C speed (IGNORECASE would forgo that).
REPLY_RULES = tuple((reply, re.compile(reply.pattern)) for reply in REPLIES)


def literal_runs(pattern: str) -> tuple[str, ...] | None:
    """For each top-level alternative of a regular expression, its longest plain text: a
    match holds one of them. None when an alternative has no plain text of 3 characters.

    Understands what REPLIES use: escapes, groups (skipped whole), character classes,
    anchors, lookarounds and the quantifiers ``? * + {m,n}``.
    """
    alternatives, depth, current = [], 0, ""
    for index, char in enumerate(pattern):
        escaped = (
            index > 0 and pattern[index - 1] == "\\" and (index < 2 or pattern[index - 2] != "\\")
        )
        if not escaped and char in "([":
            depth += 1
        elif not escaped and char in ")]":
            depth -= 1
        if char == "|" and depth == 0 and not escaped:
            alternatives.append(current)
            current = ""
        else:
            current += char
    alternatives.append(current)
    found = []
    for alternative in alternatives:
        runs, run, depth, index = [], "", 0, 0
        while index < len(alternative):
            char = alternative[index]
            if char == "\\" and index + 1 < len(alternative):
                nxt = alternative[index + 1]
                if depth == 0 and not nxt.isalnum():
                    run += nxt
                else:
                    runs.append(run)
                    run = ""
                index += 2
                continue
            if char in "([":
                depth += 1
                runs.append(run)
                run = ""
            elif char in ")]":
                depth -= 1
            elif depth == 0 and char in "?*{":
                run = run[:-1]  # the character before is optional
                runs.append(run)
                run = ""
                if char == "{":
                    index = alternative.index("}", index)
            elif depth == 0 and char in "+^$.":
                runs.append(run + (char if char == "+" else ""))
                run = ""
            elif depth == 0:
                run += char
            index += 1
        runs.append(run)
        best = max(runs, key=len)
        if len(best) < 3:
            return None
        found.append(best)
    return tuple(found)


#: Each rule's regular expression is tried only when the reply holds one of its plain texts
#: (``in``: C speed; most replies hold a few): about 40 regular expressions over every reply
#: would cost 100 µs a line.
_TRIGGERED = tuple((rule, pattern, literal_runs(rule.pattern)) for rule, pattern in REPLY_RULES)
#: The rule of a reply no pattern matches.
UNMATCHED = Reply("other", "other", "", "")
#: Continuation codes of a multi-line reply, as Postfix joins its lines: "... of 421-4.7.28 ...".
_CONTINUATION = re.compile(r"(?<=\S) \d{3}[- ](?:[245]\.\d{1,3}\.\d{1,3} +)?(?=\S)")
#: Digits say which server, address or message; a reason without them groups the same reply.
_DIGITS = str.maketrans("0123456789", "##########")
#: Characters of a reply read: the cause is in its first sentences.
READ_LIMIT = 1000
#: Characters of a reason (the top deferral reasons) kept.
REASON_LIMIT = 300


def clean_reply(text: str) -> str:
    """The reply as one sentence: the codes repeated at each joined line removed."""
    if text[3:4] != "-":  # a one-line reply ("421 4.7.0 ...") has nothing joined
        return text
    head, rest = text[:12], text[12:]
    return head + _CONTINUATION.sub(" ", rest)


def names_digits(pattern: str) -> bool:
    """Whether a pattern tells one digit from another (a literal 5, a class [0-5]); ``\\d``,
    ``\\w`` and quantifiers ``{1,40}`` treat every digit alike."""
    return bool(re.search(r"\d", re.sub(r"\\[dDwW]|\{\d*,?\d*\}", "", pattern)))


#: (rule, its regular expression, its plain texts, whether it tells digits apart).
_RULES = tuple(
    (rule, pattern, texts, names_digits(rule.pattern)) for rule, pattern, texts in _TRIGGERED
)
_ZEROS = bytes.maketrans(b"123456789", b"000000000")
#: Each rule's plain texts as they are in a key (UTF-8, digits made 0).
_KEY_TEXTS = tuple(
    None if texts is None else tuple(text.encode().translate(_ZEROS) for text in texts)
    for _, _, texts, _ in _RULES
)
#: Replies with their digits made 0 -> the index of the first rule that matches them among the
#: rules that treat every digit alike (the same for every reply of that key), and the rules
#: before it that name digits and whose plain texts, digits made 0, are in it (a plain text
#: in a reply is in it once digits are made 0 on both sides).
_SHAPES: dict[bytes, tuple[int, tuple[int, ...]]] = {}
_SHAPES_MAX = 50000


def _matches(index: int, lowered: str) -> bool:
    _, pattern, texts, _ = _RULES[index]
    if texts is not None and not any(text in lowered for text in texts):
        return False
    return pattern.search(lowered) is not None


def _could_match(index: int, key: bytes) -> bool:
    texts = _KEY_TEXTS[index]
    return texts is None or any(text in key for text in texts)


def _shape(lowered: str, key: bytes) -> tuple[int, tuple[int, ...]]:
    uniform = (i for i, rule in enumerate(_RULES) if not rule[3] and _matches(i, lowered))
    first = next(uniform, len(_RULES))
    named = tuple(i for i in range(first) if _RULES[i][3] and _could_match(i, key))
    return first, named


def classify(reply: str) -> tuple[Reply, str]:
    """The first rule whose pattern the reply (cleaned, see clean_reply) holds (UNMATCHED when
    none does), and the reason it is counted under: the rule's name, or for an unmatched reply
    its text with digits masked.

    The same reply from another server or for another message differs in its digits: the
    rules that treat every digit alike are run once per reply with its digits made 0 (and
    remembered); only the rules that name digits (status codes) run on every reply.
    """
    lowered = reply[:READ_LIMIT].lower()
    # bytes.translate: a table lookup per byte, ten times faster than str.translate's.
    key = lowered.encode("utf-8", "surrogatepass").translate(_ZEROS)
    shape = _SHAPES.get(key)
    if shape is None:
        shape = _shape(lowered, key)
        if len(_SHAPES) < _SHAPES_MAX:
            _SHAPES[key] = shape
    first, named = shape
    for index in named:
        rule, pattern, texts, _ = _RULES[index]
        if texts is not None:
            for text in texts:  # inline, not _matches(): this runs for every failed delivery
                if text in lowered:
                    break
            else:
                continue
        if pattern.search(lowered) is not None:
            return rule, rule.name
    if first < len(_RULES):
        return _RULES[first][0], _RULES[first][0].name
    return UNMATCHED, reply[:REASON_LIMIT].translate(_DIGITS)


#: smtpd's reject of incoming mail, by class: the first pattern found wins.
REJECT_CLASSES: tuple[tuple[str, str, str], ...] = (
    (
        "blocklist",
        r"blocked using|listed (?:in|at|on|by)\b|\brbl\b|\bdnsbl\b|spamhaus|block ?list|"
        r"black ?list",
        "554 5.7.1 Service unavailable; Client host [192.0.2.99] blocked using "
        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.99",
    ),
    (
        "unknown_user",
        r"user unknown|unknown user|no such user|undeliverable address|mailbox unavailable",
        "550 5.1.1 <nobody@isp.example>: Recipient address rejected: User unknown in virtual "
        "mailbox table",
    ),
    (
        "policy",
        r"policy rejection|rate limit|quota|too many|limit exceeded|\bpolic(?:y|ies)\b|"
        r"greylist",
        "450 4.7.1 <bob@gmail.com>: Recipient address rejected: Rate limit reach, retry later",
    ),
)
REJECT_KINDS: tuple[str, ...] = (*(kind for kind, _, _ in REJECT_CLASSES), "other")
_REJECT_RULES = tuple((kind, re.compile(p)) for kind, p, _ in REJECT_CLASSES)


def reject_class(reply: str) -> str:
    """blocklist, policy, unknown_user or other."""
    lowered = reply[:READ_LIMIT].lower()
    return next((kind for kind, pattern in _REJECT_RULES if pattern.search(lowered)), "other")
