"""Output dictation: text that tells the model what the report must say ("write that the lungs are
clear", "the impression must read normal", "respond only with", "output: normal", "say there is no
pneumothorax", an embedded "FINDINGS:"/"IMPRESSION:"), in the seven languages of the project.

Reported speech passes ("patient reports that he has chest pain", "le patient dit que", "paciente
refiere que"), and so do clinical requests ("report to Dr on call if pneumothorax", "rule out PE",
"follow-up as instructed", "please report line position"): a dictating verb fires only as an
imperative at a sentence start with "that" after it, or with a verdict after it.
"""

from __future__ import annotations

import re

from ids.injection.rules_base import SEP, START, PatternRule, fill, one_of, words
from ids.normalize import Normalised

__all__ = ["DICTATION_RULES"]

CODE = "injection-dictation"
FAMILY = "dictation"

_VERDICT = one_of(
    words("normal|unremarkable|negative|clear|benign|healthy|fine|clean|no acute|no abnormalit|no abnormal|no pathology|no findings|nothing|without findings|no evidence|no pneumothorax|no effusion|no consolidation|no disease|there is no|there are no|no significant|within normal limits|wnl|ok|okay|normaal|normale|normal|unauffallig|o.b.|sans particularite|sin hallazgos|sin alteraciones|nella norma|negativo|negatif|negativ|geen afwijkingen|sem alteracoes")
)  # fmt: skip
_SECTION = one_of(
    words("impression|conclusion|report|final report|findings|output|answer|response|result|diagnosis|summary|reply|verdict")
)  # fmt: skip


class DictationEnglish(PatternRule):
    """English: "write that ...", "the impression must read ...", "respond only with", "output: normal"."""

    code, family, name = CODE, FAMILY, "dictation, English"
    # Verbs that dictate; "confirm that", "note that", "document that" are how clinicians ask, and pass.
    _verb = one_of(
        words("write|state|report|say|conclude|put|declare|claim|print|output|type|answer|respond|reply|certify|assert|insist|make it say|tell them|tell the doctor")
    )  # fmt: skip
    # "that" opening a clause ("report that the lungs are clear"), not a determiner ("report that finding").
    _clause = one_of(
        words("the|there|it|this|no|all|everything|nothing|lungs|heart|chest|findings|impression|report|study|film|image|x-ray|xray|exam|patient|you|we")
    )  # fmt: skip
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}that{SEP}{_clause}\b",
        rf"{START}(?:say|state|write|report|conclude|claim|declare|document|mark|label|classify|call|certify|describe|output|print|answer|reply|respond){SEP}(?:(?:it|this|the{SEP}\w+|everything|the{SEP}study|the{SEP}film|the{SEP}exam|the{SEP}image|the{SEP}chest|the{SEP}lungs|as|with){SEP}){{0,3}}(?:(?:is|are|was|as|with){SEP})?{_VERDICT}",
        rf"\b(?:say|state|write|conclude|claim|declare){SEP}(?:that{SEP})?there{SEP}(?:is|are|was|were){SEP}no\b",
        rf"\b(?:the|your|my){SEP}(?:final{SEP})?{_SECTION}{SEP}(?:must|should|shall|has{SEP}to|needs{SEP}to|is{SEP}to|will|ought{SEP}to){SEP}(?:only{SEP}|always{SEP}|simply{SEP}|just{SEP})?(?:say|read|state|contain|conclude|mention|indicate|declare|be{SEP}(?:{_VERDICT}|exactly|only|empty|blank|[\"':])|be{SEP}that|show{SEP}(?:{_VERDICT}))",
        rf"\b(?:respond|answer|reply|output|return|write|print|say){SEP}(?:only|solely|just|exclusively|nothing{SEP}(?:but|except)|simply){SEP}(?:with|in|the|[\"':]|this|that|one|a{SEP}single|yes|no|normal)",
        rf"\b(?:only|just){SEP}(?:respond|answer|reply|output|write|print|say){SEP}(?:with|the{SEP}word|[\"':])",
        rf"\b(?:output|answer|response|result|verdict|conclusion)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\b(?:in|into|within){SEP}(?:the|your){SEP}(?:report|impression|findings|conclusion|output|response|answer){SEP}{fill(3)}(?:write|put|say|state|include|insert|add|mention)\b",
        rf"\b(?:regardless|irrespective){SEP}of{SEP}(?:the{SEP})?(?:image|images|film|findings|x-?ray|study|what{SEP}you{SEP}see)\b(?!{SEP}(?:quality|qualit))",
        rf"\b(?:do{SEP}not|don't|dont|never){SEP}(?:mention|report|describe|include|say|write|note|state){SEP}{fill(3)}(?:pneumothorax|effusion|consolidation|nodule|mass|fracture|cardiomegaly|finding|findings|abnormalit\w*|anything|pathology|lesion|tube|line|pacemaker)\b",
        rf"\b(?:you{SEP})?(?:must|should){SEP}(?:always{SEP})?(?:report|write|say|conclude|state|answer){SEP}{fill(2)}{_VERDICT}",
    )


class DictationGerman(PatternRule):
    """German: "schreibe, dass ...", "die Beurteilung muss lauten ...", "antworte nur mit"."""

    code, family, name = CODE, FAMILY, "dictation, German"
    _verb = one_of(
        words("schreibe|schreib|schreiben sie|gib an|geben sie an|berichte|melde|stelle fest|stellen sie fest|formuliere|sag|sage|sagen sie|behaupte|erklare")
    )  # fmt: skip
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}dass\b",
        rf"\b(?:beurteilung|befund|bericht|befundbericht|schlussfolgerung|zusammenfassung|impression|ergebnis|antwort|ausgabe|diagnose){SEP}(?:muss|soll|sollte|hat{SEP}zu|darf{SEP}nur){SEP}(?:nur{SEP}|immer{SEP})?(?:lauten|heissen|sagen|enthalten|(?:\w+{SEP})?{_VERDICT}|sein{SEP}[:\"'])",
        rf"\b(?:antworte|antworten{SEP}sie|gib|geben{SEP}sie|schreibe|schreiben{SEP}sie|sage|sag)\b{SEP}{fill(2)}(?:nur|ausschliesslich|lediglich){SEP}(?:mit|das{SEP}wort|[\"':]|aus)",
        rf"\b(?:ausgabe|antwort|ergebnis|beurteilung)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"{START}(?:schreibe|schreib|sage|sag|beurteile|befunde|erklare){SEP}(?:(?:es|das|den{SEP}befund|die{SEP}lunge|alles|als){SEP}){{0,3}}(?:(?:ist|sei|als){SEP})?{_VERDICT}",
        rf"\bim{SEP}(?:bericht|befund|befundbericht){SEP}{fill(3)}(?:schreiben|erwahnen|angeben|stehen)\b",
        rf"\b(?:erwahne|erwahnen{SEP}sie|berichte){SEP}(?:keinen|keine|keinesfalls|nicht){SEP}{fill(2)}\b",
        rf"\bunabhangig{SEP}vom{SEP}(?:bild|befund|rontgenbild)\b",
    )


class DictationFrench(PatternRule):
    """French: "ecris que ...", "la conclusion doit etre ...", "reponds uniquement par"."""

    code, family, name = CODE, FAMILY, "dictation, French"
    _verb = one_of(
        words("ecris|ecrivez|indique|indiquez|declare|declarez|affirme|affirmez|dis|dites|conclus|concluez|mentionne|mentionnez|rapporte|rapportez|mets|mettez")
    )  # fmt: skip
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}(?:que|qu)\b",
        rf"\b(?:conclusion|compte{SEP}rendu|rapport|resultat|impression|interpretation|reponse|diagnostic){SEP}(?:doit|devrait|doivent|devra){SEP}(?:seulement{SEP}|toujours{SEP})?(?:etre{SEP}(?:{_VERDICT}|[:\"'])|dire|indiquer|mentionner|conclure|affirmer|contenir|se{SEP}lire)",
        rf"\b(?:reponds|repondez|ecris|ecrivez|dis|dites)\b{SEP}{fill(2)}(?:uniquement|seulement|exclusivement){SEP}(?:par|avec|[\"':]|le{SEP}mot)",
        rf"\b(?:ne{SEP})?(?:reponds|repondez|ecris|ecrivez){SEP}(?:que|rien{SEP}d'autre{SEP}que)\b",
        rf"\b(?:sortie|reponse|resultat|conclusion)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\bdans{SEP}(?:le|la|ton|votre){SEP}(?:compte{SEP}rendu|rapport|conclusion){SEP}{fill(3)}(?:ecris|ecrivez|mets|mettez|indique|indiquez)\b",
        rf"\b(?:quelle{SEP}que{SEP}soit|independamment{SEP}de){SEP}(?:l'?{SEP})?(?:image|radio|radiographie)\b",
    )


class DictationSpanish(PatternRule):
    """Spanish: "escribe que ...", "la conclusion debe ser ...", "responde solo con"."""

    code, family, name = CODE, FAMILY, "dictation, Spanish"
    _verb = one_of(
        words(
            "escribe|escriba|di|diga|pon|ponga|afirme|declare|concluya|indique|informe|reporte|mencione|haz constar|haga constar|asegura|asegure"
        )
    )
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}que\b",
        rf"\b(?:conclusion|informe|impresion|resultado|diagnostico|reporte|respuesta|salida){SEP}(?:debe|deberia|tiene{SEP}que|ha{SEP}de){SEP}(?:solo{SEP}|siempre{SEP})?(?:ser{SEP}(?:{_VERDICT}|[:\"'])|decir|indicar|afirmar|concluir|contener|leer)",
        rf"\b(?:responde|responda|contesta|conteste|escribe|escriba|di|diga)\b{SEP}{fill(2)}(?:solo|solamente|unicamente|exclusivamente){SEP}(?:con|[\"':]|la{SEP}palabra)",
        rf"\b(?:salida|respuesta|resultado|conclusion)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\ben{SEP}(?:el|la|tu|su){SEP}(?:informe|conclusion|impresion|reporte){SEP}{fill(3)}(?:pon|ponga|escribe|escriba|di|diga|indique)\b",
        rf"\b(?:independientemente|sin{SEP}importar){SEP}(?:de{SEP})?(?:la|lo{SEP}que){SEP}(?:imagen|radiografia|veas)\b",
    )


class DictationItalian(PatternRule):
    """Italian: "scrivi che ...", "la conclusione deve essere ...", "rispondi solo con"."""

    code, family, name = CODE, FAMILY, "dictation, Italian"
    _verb = one_of(
        words(
            "scrivi|scriva|scrivete|dichiari|affermi|indichi|riporti|dica|di'|concludi|concluda|metti|metta|assicurati"
        )
    )
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}che\b",
        rf"\b(?:conclusione|referto|rapporto|impressione|risultato|diagnosi|risposta|output){SEP}(?:deve|dovrebbe|devono|dovra){SEP}(?:solo{SEP}|sempre{SEP})?(?:essere{SEP}(?:{_VERDICT}|[:\"'])|dire|indicare|affermare|riportare|concludere|contenere)",
        rf"\b(?:rispondi|risponda|scrivi|scriva|di'|dica)\b{SEP}{fill(2)}(?:solo|soltanto|unicamente|esclusivamente){SEP}(?:con|[\"':]|la{SEP}parola)",
        rf"\b(?:risposta|risultato|conclusione|output)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\bnel{SEP}(?:referto|rapporto|la{SEP}conclusione){SEP}{fill(3)}(?:scrivi|scriva|metti|metta|indica|indichi)\b",
        rf"\b(?:indipendentemente|a{SEP}prescindere){SEP}(?:dall'?{SEP}|da{SEP}(?:quello{SEP}che|cio{SEP}che){SEP})(?:immagine|radiografia|vedi)\b",
    )


class DictationDutch(PatternRule):
    """Dutch: "schrijf dat ...", "de conclusie moet ... zijn", "antwoord alleen met"."""

    code, family, name = CODE, FAMILY, "dictation, Dutch"
    _verb = one_of(words("schrijf|vermeld|stel|zeg|rapporteer|concludeer|geef aan|verklaar"))
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}dat\b",
        rf"\b(?:conclusie|verslag|rapport|bevinding|impressie|uitslag|antwoord|beoordeling){SEP}(?:moet|moeten|zou{SEP}moeten|dient){SEP}(?:alleen{SEP}|altijd{SEP})?(?:(?:\w+{SEP})?{_VERDICT}|luiden|zeggen|vermelden|bevatten|zijn{SEP}[:\"'])",
        rf"\b(?:antwoord|schrijf|zeg)\b{SEP}{fill(2)}(?:alleen|uitsluitend|enkel|slechts){SEP}(?:met|[\"':]|het{SEP}woord)",
        rf"\b(?:uitvoer|antwoord|uitslag|conclusie)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\bin{SEP}(?:het|je|uw){SEP}(?:verslag|rapport){SEP}{fill(3)}(?:schrijf|zet|vermeld|zeg)\b",
        rf"\b(?:ongeacht|los{SEP}van){SEP}(?:de|wat{SEP}je{SEP}ziet{SEP}op{SEP}de){SEP}(?:foto|beelden|afbeelding|rontgenfoto)\b",
    )


class DictationPortuguese(PatternRule):
    """Portuguese: "escreva que ...", "a conclusao deve ser ...", "responda apenas com"."""

    code, family, name = CODE, FAMILY, "dictation, Portuguese"
    _verb = one_of(words("escreva|diga|declare|afirme|conclua|informe|relate|coloque|ponha|indique|mencione"))
    patterns = (
        rf"{START}{_verb}\b{SEP}{fill(4)}que\b",
        rf"\b(?:conclusao|laudo|relatorio|impressao|resultado|diagnostico|resposta|saida){SEP}(?:deve|deveria|tem{SEP}que|precisa){SEP}(?:apenas{SEP}|sempre{SEP})?(?:ser{SEP}(?:{_VERDICT}|[:\"'])|dizer|indicar|afirmar|concluir|constar|conter)",
        rf"\b(?:responda|responde|escreva|diga)\b{SEP}{fill(2)}(?:apenas|somente|so|unicamente|exclusivamente){SEP}(?:com|[\"':]|a{SEP}palavra)",
        rf"\b(?:saida|resposta|resultado|conclusao)\s*[:=]\s*[\"'“]?{_VERDICT}",
        rf"\bno{SEP}(?:laudo|relatorio){SEP}{fill(3)}(?:escreva|coloque|ponha|diga|indique)\b",
        rf"\b(?:independentemente|nao{SEP}importa){SEP}(?:da|do{SEP}que){SEP}(?:imagem|radiografia|voce{SEP}ve)\b",
    )


_WRITE = one_of(
    words(
        "write|output|print|answer|respond|reply|say|type|return|put|use|schreibe|schreib|antworte|gib|sage|sag"
        "|ecris|ecrivez|reponds|repondez|dis|dites|mets|escribe|escriba|responde|responda|di|diga|pon|ponga"
        "|scrivi|scriva|rispondi|risponda|di'|dica|metti|schrijf|antwoord|zeg|zet|geef|escreva|responda|diga|coloque"
    )
)
_ONLY = one_of(
    words(
        "only|just|exactly|solely|nur|ausschliesslich|genau|uniquement|seulement|exactement|solo|solamente|unicamente"
        "|exactamente|soltanto|esattamente|alleen|uitsluitend|enkel|precies|apenas|somente|so|exatamente"
    )
)
_FOLLOWING = one_of(
    words("following|folgende|folgenden|suivante|suivant|siguiente|seguente|volgende|seguinte|this text|these words")
)
_REGARDLESS = one_of(
    words(
        "regardless of|irrespective of|no matter what|unabhangig von|unabhangig vom|egal was|quelle que soit"
        "|quel que soit|peu importe|independamment de|independientemente de|sin importar|da igual|cualquiera que sea"
        "|qualunque sia|indipendentemente da|indipendentemente dal|indipendentemente dall|a prescindere da"
        "|ongeacht|los van|wat er ook|independentemente de|independentemente do|independentemente da|nao importa"
        "|seja qual for|qualquer que seja"
    )
)
_IMAGE = one_of(
    words(
        "image|images|film|x-ray|xray|radiograph|study|picture|scan|findings|bild|aufnahme|rontgenbild|befund|radio"
        "|radiographie|cliche|imagen|radiografia|placa|estudio|immagine|lastra|esame|opname|foto|beeld|beelden"
        "|rontgenfoto|imagem|exame|what you see|what it shows"
    )
)


class DictationAnyLanguage(PatternRule):
    """Phrases shared by the seven languages: "write only the following conclusion:", "answer 'no
    acute findings' whatever the image shows" (not "regardless of image quality")."""

    code, family, name = CODE, FAMILY, "dictation, any language"
    patterns = (
        rf"\b{_WRITE}\b{SEP}{fill(2)}{_ONLY}\b{SEP}{fill(3)}{_FOLLOWING}\b",
        rf"\b{_WRITE}\b{SEP}{fill(3)}{_FOLLOWING}\b{SEP}{fill(2)}(?:\w+{SEP})?[:=]",
        rf"\b{_REGARDLESS}{SEP}{fill(3)}{_IMAGE}\b(?!{SEP}(?:quality|qualitat|qualite|calidad|qualita|kwaliteit|qualidade))",
        rf"\b{_WRITE}\b{SEP}[\"'“”‘’«»]",
    )


class DictationEmbeddedReport(PatternRule):
    """A report skeleton inside an indication: FINDINGS:/IMPRESSION: headers as the report writes them
    (capitals in the original), both section names, or an impression header with a verdict."""

    code, family, name = CODE, FAMILY, "embedded report"
    _headers = re.compile(
        r"(?<![A-Za-z])(?:FINDINGS|IMPRESSION|CONCLUSION|BEFUND|BEURTEILUNG|CONCLUSIE|CONCLUSAO|CONCLUSÃO|IMPRESIÓN|IMPRESION|HALLAZGOS|REPERTO|CONCLUSIONI|BEVINDINGEN|ACHADOS)\s*:"
    )
    patterns = (
        r"\bfindings\s*:.{0,400}\bimpression\s*:",
        rf"(?:^|[.!?;\n]\s*)(?:impression|conclusion|beurteilung|impresion|conclusione|conclusie|conclusao|impressao)\s*:\s*[\"'“]?{_VERDICT}",
    )

    def check(self, n: Normalised) -> bool:
        """True for report headers in capitals in the original, or for one of the patterns."""
        return bool(self._headers.search(n.original[:4096])) or super().check(n)


DICTATION_RULES: tuple[PatternRule, ...] = (
    DictationAnyLanguage(),
    DictationEnglish(),
    DictationGerman(),
    DictationFrench(),
    DictationSpanish(),
    DictationItalian(),
    DictationDutch(),
    DictationPortuguese(),
    DictationEmbeddedReport(),
)
