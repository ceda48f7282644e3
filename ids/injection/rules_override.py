"""Instruction override: text that tells the model to drop what it was told ("ignore previous
instructions", "vergiss alle Anweisungen", "a partir de maintenant tu ...").

Objects are the model's instructions (instructions, rules, prompt, directives...), never a clinical
object: "ignore the prior film", "disregard previous study", "Vorbefund ignorieren" pass. Because
patients forget instructions too ("the patient forgets the inhaler instructions", "le patient ignore
les consignes"), a verb and an object fire only when the verb starts a sentence (an imperative), or
the object is qualified as the model's (previous, above, all, your, system ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from ids.injection.rules_base import FILL, SEP, START, PatternRule, fill, one_of, words

__all__ = ["OVERRIDE_RULES"]

CODE = "injection-override"
FAMILY = "override"

# Determiners and qualifiers of all seven languages, for the tight pattern that must also match the
# despaced view, where "i g n o r e p r e v i o u s ..." has become one word.
_DET = one_of(
    words("all|the|any|every|your|my|of|previous|prior|above|earlier|original|system|alle|die|der|deine|ihre|vorherigen|bisherigen|obigen|toutes|tous|les|des|tes|vos|precedentes|todas|todos|las|los|tus|sus|anteriores|previas|tutte|tutti|le|tue|precedenti|de|je|eerdere|vorige|as|os|suas|della|delle|du|van")
)  # fmt: skip


def _patterns(
    verbs: Sequence[str],
    objects: Sequence[str],
    qualifiers: Sequence[str],
    *,
    reverse_verbs: Sequence[str] = (),
    from_now_on: str = "",
    new_instructions: str = "",
) -> tuple[str, ...]:
    """The override patterns of one language.

    `verbs`: imperative or infinitive verbs of dropping; `objects`: the model's instructions;
    `qualifiers`: words that make an object the model's ("previous", "all", "your"); `reverse_verbs`:
    verbs that follow their object (German and Dutch infinitives); `from_now_on`: "from now on, you ...";
    `new_instructions`: "your new instructions" / "new rules:".
    """
    verb, obj, qual = one_of(verbs), one_of(objects), one_of(qualifiers)
    out = [
        rf"{START}{verb}\b{SEP}{FILL}{obj}\b",
        rf"\b{verb}\b{SEP}{fill(3)}{qual}\b{SEP}{fill(2)}{obj}\b",
        # despaced runs join words: the verb glued to the next word ("ignoreprevious instructions")
        rf"\b{verb}(?:{_DET}[\W_]?){{0,4}}{obj}",
    ]
    if reverse_verbs:
        out.append(rf"\b{qual}\b{SEP}{fill(2)}{obj}\b{SEP}{fill(3)}{one_of(reverse_verbs)}\b")
    if from_now_on:
        out.append(from_now_on)
    if new_instructions:
        out.append(new_instructions)
    return tuple(out)


class OverrideEnglish(PatternRule):
    """English: a verb of dropping with the model's instructions as its object; "from now on you"."""

    code, family, name = CODE, FAMILY, "override, English"
    _objects = words("instructions|instruction|prompts|prompt|directives|directive|rules|guardrails|programming|commands|constraints|restrictions|safety guidelines|system message|guidelines|training|context|everything above|everything before|all of the above|what you were told|what you have been told|your task|text above|messages above")  # fmt: skip
    patterns = _patterns(
        words(
            "ignore|disregard|forget|override|overrule|bypass|skip|discard|abandon|neglect|cancel|delete|erase|dismiss|drop|throw away|set aside|put aside|pay no attention to|do not follow|don't follow|dont follow|stop following|no longer follow|do not obey|don't obey|stop obeying|circumvent|nullify|wipe"
        ),
        _objects,
        words(
            "previous|prior|above|preceding|earlier|former|original|initial|all|system|your|any|these|those|current|existing|safety|hidden|old|developer"
        ),
        from_now_on=(
            rf"\bfrom{SEP}now{SEP}on\b{SEP}(?:you|your|always|only|never|respond|answer|reply|act|behave|write"
            rf"|report|ignore|output|say|do not|don't|pretend|forget|the (?:ai|model|assistant))\b"
        ),
        new_instructions=(
            rf"\b(?:your|here are (?:your|the)|these are your|the following are your|updated|revised|real)"
            rf"{SEP}new{SEP}(?:system{SEP})?(?:instructions|rules|task|directives|prompt|orders)\b"
            rf"|\bnew{SEP}(?:system{SEP})?(?:instructions|rules|directives|prompt){SEP}(?:for{SEP}(?:you|the"
            rf"{SEP}(?:ai|model|assistant|system)){SEP}|are{SEP}|follow{SEP})?[:=]"
        ),
    ) + (
        rf"\b(?:ignore|disregard|forget|skip){SEP}(?:everything|anything|all){SEP}(?:(?:you|that|which){SEP})?"
        rf"(?:above|before|previously|said|told|prior|so far|until now)\b",
        rf"\b(?:previous|prior|above|earlier|original|old|system){SEP}(?:instructions|rules|prompt|directives)"
        rf"{SEP}(?:are|is|were|have been|has been){SEP}(?:now{SEP})?(?:void|cancell?ed|revoked|obsolete|null"
        rf"|invalid|outdated|superseded|replaced|no longer (?:valid|apply|relevant))",
        rf"\binstead{SEP}of{SEP}(?:your|the){SEP}(?:original{SEP}|previous{SEP}|usual{SEP})?(?:instructions|task|prompt)\b",
    )


class OverrideGerman(PatternRule):
    """German: ignoriere/vergiss/missachte ... Anweisungen/Regeln, both word orders; ab jetzt du ..."""

    code, family, name = CODE, FAMILY, "override, German"
    patterns = _patterns(
        words(
            "ignoriere|ignorier|ignorieren sie|vergiss|vergesst|vergessen sie|missachte|missachten sie|uberschreibe|uberschreib|verwirf|verwerfe|uberspringe|setze ausser kraft|befolge nicht|befolgen sie nicht|folge nicht|losche"
        ),
        words(
            "anweisungen|anweisung|instruktionen|instruktion|regeln|vorgaben|befehle|prompt|systemprompt|systemanweisungen|richtlinien|aufgabe|alles bisherige|alles vorherige"
        ),
        words("alle|vorherigen|vorigen|bisherigen|obigen|fruheren|deine|ihre|samtliche|system|ursprunglichen"),
        reverse_verbs=words("ignorieren|vergessen|missachten|verwerfen|uberschreiben|uberspringen|loschen"),
        from_now_on=(
            rf"\b(?:ab{SEP}(?:jetzt|sofort)|von{SEP}nun{SEP}an|ab{SEP}nun){SEP}(?:bist|antwortest|schreibst|sollst"
            rf"|musst|wirst|gibst|du|sie{SEP}(?:sind|antworten|schreiben))\b"
        ),
        new_instructions=(
            rf"\b(?:deine|ihre|hier{SEP}sind{SEP}(?:deine|ihre|die)){SEP}neuen{SEP}(?:anweisungen|regeln|instruktionen|aufgaben?)\b"
            rf"|\bneue{SEP}(?:anweisungen|regeln|instruktionen){SEP}[:=]"
        ),
    )


class OverrideFrench(PatternRule):
    """French: ignore/oublie/ne tiens pas compte des instructions/consignes; desormais tu ..."""

    code, family, name = CODE, FAMILY, "override, French"
    patterns = _patterns(
        words(
            "ignore|ignorez|oublie|oubliez|neglige|negligez|outrepasse|outrepassez|ne tiens pas compte|ne tenez pas compte|ne tiens plus compte|ne tenez plus compte|fais abstraction|faites abstraction|annule|annulez|efface|effacez|ne suis pas|ne suivez pas|ne suis plus|ne suivez plus|contourne|contournez|passe outre|passez outre"
        ),
        words("instructions|instruction|consignes|consigne|regles|directives|prompt|commandes|tout ce qui precede"),
        words("toutes|tous|precedentes|precedents|anterieures|ci-dessus|tes|vos|systeme|initiales|originales"),
        reverse_verbs=["ignorer", "oublier"],
        from_now_on=(
            rf"\b(?:a{SEP}partir{SEP}de{SEP}maintenant|desormais|dorenavant|des{SEP}maintenant){SEP}(?:tu|vous"
            rf"|reponds|repondez|ecris|ecrivez|ton|votre|il{SEP}faut)\b"
        ),
        new_instructions=(
            rf"\b(?:tes|vos|voici{SEP}(?:tes|vos|les)){SEP}nouvelles{SEP}(?:instructions|consignes|regles|directives)\b"
            rf"|\bnouvelles{SEP}(?:instructions|consignes|regles){SEP}[:=]"
        ),
    )


class OverrideSpanish(PatternRule):
    """Spanish: ignora/olvida/haz caso omiso de las instrucciones/reglas; a partir de ahora eres ..."""

    code, family, name = CODE, FAMILY, "override, Spanish"
    patterns = _patterns(
        words(
            "ignora|ignore|ignoren|olvida|olvide|olviden|omite|omita|descarta|descarte|desestima|desestime|haz caso omiso|haga caso omiso|no hagas caso|no haga caso|no sigas|no siga|deja de seguir|deje de seguir|anula|anule|borra|borre"
        ),
        words("instrucciones|instruccion|reglas|directrices|directivas|prompt|comandos|consignas|todo lo anterior"),
        words("todas|todos|anteriores|previas|previos|tus|sus|del sistema|originales|iniciales"),
        reverse_verbs=["ignorar", "olvidar"],
        from_now_on=(
            rf"\b(?:a{SEP}partir{SEP}de{SEP}ahora|de{SEP}ahora{SEP}en{SEP}adelante|desde{SEP}ahora){SEP}(?:eres|seras"
            rf"|responde|responda|respondes|escribe|escriba|tu|usted|solo|siempre|nunca|debes|debe)\b"
        ),
        new_instructions=(
            rf"\b(?:tus|sus|aqui{SEP}(?:estan|tienes){SEP}(?:tus|sus|las)){SEP}nuevas{SEP}(?:instrucciones|reglas|directrices)\b"
            rf"|\bnuevas{SEP}(?:instrucciones|reglas){SEP}[:=]"
        ),
    )


class OverrideItalian(PatternRule):
    """Italian: ignora/dimentica/non tenere conto delle istruzioni/regole; d'ora in poi sei ..."""

    code, family, name = CODE, FAMILY, "override, Italian"
    patterns = _patterns(
        words(
            "ignora|ignori|ignorate|dimentica|dimentichi|dimenticate|trascura|trascuri|tralascia|tralasci|non considerare|non consideri|non tenere conto|non tenga conto|scarta|scarti|annulla|annulli|non seguire|non segua|smetti di seguire|cancella"
        ),
        words(
            "istruzioni|istruzione|regole|direttive|prompt|comandi|consegne|tutto quanto sopra|tutto cio che precede"
        ),
        words("tutte|tutti|precedenti|sopra|tue|sue|di sistema|originali|iniziali"),
        reverse_verbs=["ignorare", "dimenticare"],
        from_now_on=(
            rf"\b(?:d{SEP}ora{SEP}in{SEP}(?:poi|avanti)|da{SEP}ora{SEP}in{SEP}(?:poi|avanti)|da{SEP}adesso"
            rf"|da{SEP}questo{SEP}momento){SEP}(?:sei|tu|rispondi|risponda|scrivi|scriva|devi|deve|sarai|solo|sempre)\b"
        ),
        new_instructions=(
            rf"\b(?:le{SEP}tue|le{SEP}sue|ecco{SEP}(?:le{SEP}tue|le)){SEP}nuove{SEP}(?:istruzioni|regole|direttive)\b"
            rf"|\bnuove{SEP}(?:istruzioni|regole){SEP}[:=]"
        ),
    )


class OverrideDutch(PatternRule):
    """Dutch: negeer/vergeet de instructies/regels (both orders); vanaf nu ben je ..."""

    code, family, name = CODE, FAMILY, "override, Dutch"
    patterns = _patterns(
        words("negeer|vergeet|overschrijf|verwerp|schrap|volg niet|laat varen|wis"),
        words(
            "instructies|instructie|regels|opdrachten|richtlijnen|prompt|aanwijzingen|commando's|alles hierboven|al het voorgaande"
        ),
        words("alle|eerdere|vorige|voorgaande|bovenstaande|je|jouw|uw|systeem|oorspronkelijke"),
        reverse_verbs=words("negeren|vergeten|overschrijven|niet meer volgen|niet volgen"),
        from_now_on=rf"\b(?:vanaf{SEP}nu|van{SEP}nu{SEP}af|voortaan){SEP}(?:ben|antwoord|schrijf|je|jij|moet|zeg|u)\b",
        new_instructions=(
            rf"\b(?:je|jouw|uw|hier{SEP}zijn{SEP}(?:je|jouw|de)){SEP}nieuwe{SEP}(?:instructies|regels|opdrachten)\b"
            rf"|\bnieuwe{SEP}(?:instructies|regels){SEP}[:=]"
        ),
    )


class OverridePortuguese(PatternRule):
    """Portuguese: ignore/esqueca/desconsidere as instrucoes/regras; a partir de agora voce e ..."""

    code, family, name = CODE, FAMILY, "override, Portuguese"
    patterns = _patterns(
        words(
            "ignore|ignora|ignorem|esqueca|esquece|esquecam|desconsidere|desconsidera|despreze|despreza|descarte|descarta|nao considere|nao siga|nao sigas|deixe de seguir|pare de seguir|anule|anula|apague|apaga"
        ),
        words(
            "instrucoes|instrucao|regras|diretrizes|diretivas|comandos|prompt|orientacoes|tudo acima|tudo o que foi dito"
        ),
        words("todas|todos|anteriores|previas|acima|suas|tuas|do sistema|originais|iniciais"),
        reverse_verbs=["ignorar", "esquecer", "desconsiderar"],
        from_now_on=(
            rf"\b(?:a{SEP}partir{SEP}de{SEP}agora|de{SEP}agora{SEP}em{SEP}diante|daqui{SEP}em{SEP}diante){SEP}(?:voce"
            rf"|tu|responda|responde|escreva|escreve|seja|so|sempre|nunca|deve)\b"
        ),
        new_instructions=(
            rf"\b(?:suas|tuas|aqui{SEP}estao{SEP}(?:suas|as)){SEP}novas{SEP}(?:instrucoes|regras|diretrizes)\b"
            rf"|\bnovas{SEP}(?:instrucoes|regras){SEP}[:=]"
        ),
    )


_RULES_WORDS = one_of(
    words(
        "rules|instructions|instruction|prompt|directives|guidelines|regeln|anweisungen|anweisung|vorgaben|regles"
        "|consignes|reglas|instrucciones|instruccion|regole|istruzioni|istruzione|regels|instructies|instructie"
        "|regras|instrucoes|instrucao|diretrizes"
    )
)
_NO_LONGER = one_of(
    words(
        "no longer|not apply|don't apply|do not apply|are void|are cancelled|are canceled|are revoked|are obsolete"
        "|nicht mehr|sind aufgehoben|ungultig|ne s'appliquent plus|ne sont plus|ne valent plus|sont annulees"
        "|ya no|quedan anuladas|non valgono piu|non sono piu|non si applicano piu|sono annullate|niet meer"
        "|zijn vervallen|ja nao|nao se aplicam|nao valem mais|nao sao mais|foram anuladas"
    )
)
_NEW = one_of(words("new|neue|neuer|nouvelle|nouvelles|nouvel|nueva|nuevas|nuova|nuove|nieuwe|nova|novas"))


class OverrideAnyLanguage(PatternRule):
    """Phrases shared by the seven languages: the previous rules no longer apply, "new instruction:",
    forget everything you were told, obey only me, new instructions replace the old ones."""

    code, family, name = CODE, FAMILY, "override, any language"
    patterns = (
        rf"\b{_RULES_WORDS}\b{SEP}{fill(3)}{_NO_LONGER}\b",
        rf"\b{_NEW}{SEP}{_RULES_WORDS}\s*[:=]",
        rf"{START}(?:forget|vergiss|vergessen sie|oublie|oubliez|olvida|olvide|dimentica|dimentichi|vergeet"
        rf"|esqueca|esquece){SEP}(?:everything|anything|all|alles|tout|todo|tutto|tudo)\b{SEP}(?:you|that|was|what"
        rf"|ce|lo|quello|cio|wat|o|que|het)\b",
        rf"\b(?:obey|follow){SEP}(?:only{SEP})?(?:me|my{SEP}(?:orders|commands|instructions|rules))\b"
        rf"|\bonly{SEP}(?:obey|follow){SEP}(?:me|my)\b"
        rf"|\b(?:befolge|gehorche|folge){SEP}(?:nur{SEP}(?:noch{SEP})?)?(?:mir|meine[nm]?)\b"
        rf"|\b(?:obeis|obeissez){SEP}(?:seulement{SEP}|uniquement{SEP})?(?:a{SEP})?(?:moi|mes)\b"
        rf"|\b(?:obedece|obedezca|sigue){SEP}(?:solo{SEP}|solamente{SEP}|unicamente{SEP})?(?:a{SEP}mi|mis)\b"
        rf"|\b(?:obbedisci|obbedisca|segui){SEP}(?:solo{SEP}|soltanto{SEP})?(?:a{SEP}me|ai{SEP}miei|alle{SEP}mie)\b"
        rf"|\b(?:gehoorzaam|volg){SEP}(?:alleen{SEP}|enkel{SEP}|nog{SEP}maar{SEP})?(?:mij|mijn)\b"
        rf"|\b(?:obedeca|obedece|siga){SEP}(?:apenas{SEP}|somente{SEP}|so{SEP})?(?:a{SEP}mim|as{SEP}minhas|minhas|meus)\b",
        rf"\b{_NEW}{SEP}{_RULES_WORDS}{SEP}(?:override|replace|supersede|ersetzen|remplacent|reemplazan|sostituiscono"
        rf"|vervangen|substituem)\b",
    )


OVERRIDE_RULES: tuple[PatternRule, ...] = (
    OverrideAnyLanguage(),
    OverrideEnglish(),
    OverrideGerman(),
    OverrideFrench(),
    OverrideSpanish(),
    OverrideItalian(),
    OverrideDutch(),
    OverridePortuguese(),
)
