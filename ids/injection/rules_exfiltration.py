"""Exfiltration: asking the model to give away its prompt or the patient's identity, or to send
anything anywhere ("reveal your system prompt", "print the text above", "output the patient's MRN",
"send the report to http://...", a markdown image whose URL carries data).

Clinical phrases pass: "report to Dr on call if pneumothorax", "repeat per protocol override",
"compare with the prior study above", "follow-up as instructed".
"""

from __future__ import annotations

from ids.injection.rules_base import FILL, SEP, START, PatternRule, fill, one_of, words

__all__ = ["EXFILTRATION_RULES"]

CODE = "injection-exfiltration"
FAMILY = "exfiltration"

_SHOW = one_of(
    words("reveal|print|repeat|show|display|output|tell|give|list|dump|leak|echo|recite|spell out|write out|write down|copy|paste|share|disclose|expose|return|provide|translate|summarize|summarise|paraphrase|quote|read back|read out|type out|zeige|zeig|gib|wiederhole|verrate|nenne|drucke|affiche|montre|revele|repete|donne|muestra|revela|repite|imprime|dime|mostra|rivela|ripeti|stampa|dimmi|toon|onthul|herhaal|geef|mostre|revele|repita|imprima|diga")
)  # fmt: skip
_SECRET = one_of(
    words("system prompt|system message|initial prompt|original prompt|hidden prompt|secret prompt|developer prompt|prompt|instructions|initial instructions|hidden instructions|rules|configuration|guidelines|context window|conversation|text above|words above|message above|everything above|all of the above|text before|preceding text|previous text|previous message|first message|first line|hidden text|secret|secrets|password|api key|keys|token|anweisungen|systemprompt|instructions systeme|instrucciones|istruzioni|instructies|instrucoes|systeemprompt|prompt systeme|prompt du systeme|prompt del sistema|prompt di sistema|prompt do sistema|instrucciones del sistema|istruzioni di sistema|systeeminstructies|instrucoes do sistema")
)  # fmt: skip
_OWNER = one_of(
    words("your|the|this|my|system|initial|hidden|original|secret|above|preceding|previous|prior|full|entire|whole|deine|ihre|tes|vos|tus|sus|le tue|je|suas")
)  # fmt: skip
_IDENTITY = one_of(
    words("name|full name|first name|last name|surname|id|identifier|mrn|medical record number|record number|date of birth|birth date|birthdate|dob|address|phone number|telephone|social security number|ssn|insurance number|accession number|patient id|patient number|email|identity|initials|age and name|personal data|identifying|demographics")
)  # fmt: skip
_SEND = one_of(
    words("send|post|upload|forward|transmit|email|e-mail|mail|exfiltrate|submit|fetch|curl|wget|visit|open|load|call|ping|navigate to|browse to|go to|request|sende|schicke|envoie|envoyez|envia|envie|invia|stuur|verstuur|include a link|embed|append")
)  # fmt: skip
_URL = r"(?:https?://|ftp://|www\.|[\w.+-]+@[\w-]+\.[a-z]{2,}|\b[\w-]+\.(?:com|net|org|io|xyz|ru|cn|info|biz|top|site|online)\b)"


_ID_NOUN = one_of(
    words(
        "name|full name|date of birth|birth date|mrn|id|identifier|address|phone number|insurance number|initials"
        "|namen|vollstandigen namen|geburtsdatum|adresse|patientennummer|versichertennummer|nom|nom complet"
        "|date de naissance|numero|nombre|nombre completo|fecha de nacimiento|direccion|numero de historia"
        "|nome|nome completo|data di nascita|indirizzo|codice fiscale|naam|volledige naam|geboortedatum|adres"
        "|patientnummer|data de nascimento|endereco|numero do prontuario|prontuario"
    )
)
_OF_PATIENT = one_of(
    words(
        "of the patient|patient's|des patienten|der patientin|du patient|de la patiente|del paciente|de la paciente"
        "|del paziente|della paziente|van de patient|van de patiente|do paciente|da paciente|do doente|da doente"
    )
)
_PUT = one_of(
    words(
        "output|print|include|write|state|reveal|list|tell|give|show|return|add|insert|put|provide|mention|report"
        "|gib|nenne|schreibe|zeige|fuge|nimm|donne|ecris|indique|affiche|ajoute|inclus|mets|rapporte|escribe|escriba"
        "|incluye|incluya|muestra|anade|pon|ponga|indica|indique|reporta|scrivi|includi|mostra|aggiungi|metti"
        "|riporta|riporti|indica|schrijf|vermeld|toon|voeg|zet|noem|geef|escreva|inclua|mostre|adicione|coloque"
        "|informe|relate|indique"
    )
)


class ExfiltrationPrompt(PatternRule):
    """Asking for the prompt, the instructions or "the text above"."""

    code, family, name = CODE, FAMILY, "prompt disclosure"
    patterns = (
        rf"\b{_SHOW}\b{SEP}{FILL}{_OWNER}\b{SEP}{fill(2)}{_SECRET}\b",
        rf"{START}{_SHOW}\b{SEP}{fill(2)}{_SECRET}\b",
        rf"\bwhat{SEP}(?:is|are|was|were){SEP}(?:your|the){SEP}(?:system{SEP}|initial{SEP}|original{SEP}|hidden{SEP})?(?:prompt|instructions|rules|guidelines|system message)\b",
        rf"\b(?:everything|all|the text|the words){SEP}(?:written{SEP})?(?:above|before){SEP}(?:this|here|verbatim)\b",
        rf"\b(?:begin|start){SEP}(?:your{SEP}(?:reply|answer|response){SEP})?with{SEP}(?:the{SEP})?(?:words|text){SEP}(?:above|before)\b",
        rf"\b{_SHOW}{SEP}(?:your|the){SEP}(?:system{SEP})?prompt",
    )


class ExfiltrationIdentity(PatternRule):
    """Asking for the patient's identity (name, ID, MRN, date of birth) in the output."""

    code, family, name = CODE, FAMILY, "patient identity"
    _verb = one_of(
        words("output|print|include|write|state|reveal|list|tell|give|show|return|add|insert|put|provide|append|mention|disclose|spell|display|repeat|leak|what is|what's|copy|gib|nenne|schreibe|zeige|donne|ecris|indique|affiche|escribe|escriba|incluye|incluya|muestra|scrivi|includi|mostra|schrijf|vermeld|toon|escreva|inclua|mostre|informe")
    )  # fmt: skip
    patterns = (
        rf"\b{_verb}\b{SEP}{FILL}(?:the{SEP})?(?:patient|patients|patient's|pt|subject)(?:'s)?{SEP}(?:full{SEP}|real{SEP}|actual{SEP}|original{SEP})?{_IDENTITY}\b",
        rf"\b{_verb}\b{SEP}{FILL}(?:mrn|medical{SEP}record{SEP}number|date{SEP}of{SEP}birth|dob|social{SEP}security|ssn|real{SEP}name|original{SEP}name|patient{SEP}id|accession{SEP}number)\b",
        rf"\b{_verb}\b{SEP}{FILL}(?:(?:the|all|any){SEP})?(?:phi|pii|personal{SEP}(?:data|information|details)|identifying{SEP}(?:data|information|details)|dicom{SEP}(?:header|tags)|header{SEP}(?:values|fields))\b",
        rf"\b(?:name|geburtsdatum|patientennummer|patienten{SEP}?id|nom|date{SEP}de{SEP}naissance|nombre|fecha{SEP}de{SEP}nacimiento|nome|data{SEP}di{SEP}nascita|naam|geboortedatum|data{SEP}de{SEP}nascimento){SEP}(?:des|du|del|della|van|do|da){SEP}(?:patienten|patient|paciente|paziente|pati[e]nt)\b{SEP}(?:aus|ausgeben|nennen|schreiben|angeben|afficher|ecrire|indiquer|escribir|mostrar|indicar|scrivere|mostrare|indicare|vermelden|schrijven|escrever|mostrar|informar)\b",
        rf"\b(?:gib|nenne|schreibe|zeige|donne|ecris|indique|affiche|escribe|escriba|muestra|indica|scrivi|mostra|indica|schrijf|vermeld|toon|escreva|mostre|informe){SEP}{fill(3)}(?:den{SEP}namen|das{SEP}geburtsdatum|le{SEP}nom|la{SEP}date{SEP}de{SEP}naissance|el{SEP}nombre|la{SEP}fecha{SEP}de{SEP}nacimiento|il{SEP}nome|la{SEP}data{SEP}di{SEP}nascita|de{SEP}naam|de{SEP}geboortedatum|o{SEP}nome|a{SEP}data{SEP}de{SEP}nascimento)\b",
    )


class ExfiltrationChannel(PatternRule):
    """Sending to a URL or an e-mail address; markdown images and links that carry data out."""

    code, family, name = CODE, FAMILY, "outbound channel"
    patterns = (
        rf"\b{_SEND}\b{SEP}{fill(8)}{_URL}",
        r"!\[[^\]]{0,200}\]\(\s*(?:https?:)?//",
        r"\[[^\]]{0,200}\]\(\s*(?:https?:)?//[^)]*[?&][\w-]+=",
        r"(?:https?://|www\.)\S*(?:\{|\$\{|%7b|<|\[)",
        r"(?:https?://|www\.)\S*[?&](?:q|data|d|p|x|text|report|name|id|mrn|dob|info|payload|exfil|leak|secret|prompt)=",
        r"\b(?:webhook|ngrok|requestbin|pipedream|burpcollaborator|interact\.sh|pastebin)\b",
        r"\b(?:curl|wget)\b",
    )


class ExfiltrationIdentityAnyLanguage(PatternRule):
    """Any of the seven languages: put the patient's name / date of birth / ID into the output."""

    code, family, name = CODE, FAMILY, "patient identity, any language"
    patterns = (rf"{START}{_PUT}\b{SEP}{fill(3)}{_ID_NOUN}\b{SEP}{fill(6)}{_OF_PATIENT}",)


EXFILTRATION_RULES: tuple[PatternRule, ...] = (
    ExfiltrationIdentityAnyLanguage(),
    ExfiltrationPrompt(),
    ExfiltrationIdentity(),
    ExfiltrationChannel(),
)
