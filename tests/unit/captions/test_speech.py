from services.captions.speech import whisper_language


def test_bcp47_tags_become_whisper_codes():
    assert whisper_language("en-US") == "en"
    assert whisper_language("pt") == "pt"
    assert whisper_language("zh_Hant") == "zh"
    assert whisper_language(None) is None
    assert whisper_language("") is None
