"""The eSpeak NG voices the speech days use, by name (re-exported by `data.speech`)."""

VOICES = ("en-us", "en-us+f3", "en-gb-x-rp")   # the corpus: American male, American female, British RP
# eSpeak NG voice *variants* of American English (other pitch, formants, breathiness,
# speed), all with en-us phonemes. Cloning needs many training voices: with a handful,
# a TTS model only learns to pick the nearest one.
EXTRA_VOICES = ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m5", "en-us+m7", "en-us+f1",
                "en-us+f2", "en-us+f4", "en-us+Alex", "en-us+Andy", "en-us+Annie", "en-us+Denis",
                "en-us+Gene", "en-us+Jacky", "en-us+Lee", "en-us+Mike", "en-us+Storm",
                "en-us+Tweaky", "en-us+adam", "en-us+aunty", "en-us+belinda", "en-us+boris",
                "en-us+david", "en-us+edward", "en-us+grandpa", "en-us+linda", "en-us+max",
                "en-us+norbert", "en-us+quincy", "en-us+robert", "en-us+steph", "en-us+zac")
# 40 more variants (eSpeak NG's `espeak-ng --voices=variant`, leaving out whisper, robot
# and the Klatt-synthesiser names): day 11's cloning model trains on all 75 voices, so a
# new voice has near neighbours on every side.
MORE_VOICES = tuple(f"en-us+{v}" for v in (
    "Andrea", "AnxiousAndy", "Diogo", "Gene2", "Henrique", "Hugo", "Marco", "Mario", "Michael", "Nguyen",
    "Reed", "RicishayMax", "anika", "announcer", "antonio", "benjamin", "caleb", "ed", "edward2", "grandma",
    "gustave", "ian", "iven", "iven2", "iven3", "john", "kaukovalta", "m8", "marcelo", "michel", "miguel",
    "mike2", "pablo", "paul", "pedro", "rob", "sandro", "steph2", "steph3", "victor"))
CLONING_VOICES = (*VOICES, *EXTRA_VOICES, *MORE_VOICES)
# Never used in training: the voices to clone from one reference clip.
UNSEEN_VOICES = ("en-us+f5", "en-us+m4", "en-us+m6", "en-us+Alicia", "en-us+shelby", "en-us+travis")
# What the multi-speaker models train on: the corpus' 3 voices + 24 eSpeak variants.
TTS_VOICES = (*VOICES, *EXTRA_VOICES[:24])
