"""The stand-ins for botbuilder-dialogs' heavy recognizers load the real modules on first use."""
import subprocess
import sys
import textwrap

from tests.support import ROOT


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_app_starts_without_the_heavy_modules_and_they_still_work_when_used():
    out = _run("""
        import sys
        import app  # imports botbuilder.dialogs through bot.teams
        print(getattr(sys.modules["recognizers_date_time"], "__firebreak_stand_in__", False))
        print(getattr(sys.modules["emoji"], "__firebreak_stand_in__", False))
        from recognizers_text.utilities import StringUtility
        # emoji 1.7 keys UNICODE_EMOJI by language, so the real answer for "en" is True
        print(StringUtility.is_emoji("en"), StringUtility.is_emoji("a"))
        from botbuilder.dialogs.prompts.datetime_prompt import recognize_datetime
        found = recognize_datetime("tomorrow at 5pm", "en-us")
        print(bool(found) and found[0].type_name.startswith("datetimeV2"))
        print(getattr(sys.modules["emoji"], "__firebreak_stand_in__", False))
    """)
    assert out.splitlines() == ["True", "True", "True False", "True", "False"]


def test_confirm_prompt_recognition_still_works():
    out = _run("""
        import bot.teams  # installs the stand-ins
        from recognizers_choice import recognize_boolean
        print(recognize_boolean("yes please", "en-us")[0].resolution["value"])
    """)
    assert out == "True"


def test_choice_prompt_numbers_load_the_real_recognizer_when_needed():
    out = _run("""
        import sys
        import app
        print(getattr(sys.modules["recognizers_number"], "__firebreak_stand_in__", False))
        from botbuilder.dialogs.choices import ChoiceRecognizers
        found = ChoiceRecognizers.recognize_choices("the second one", ["sev1", "sev2", "sev3"], None)
        print(found[0].resolution.value)
        print(getattr(sys.modules["recognizers_number"], "__firebreak_stand_in__", False))
        from recognizers_date_time import recognize_datetime  # still works after the numbers loaded
        print(bool(recognize_datetime("tomorrow at 5pm", "en-us")))
    """)
    assert out.splitlines() == ["True", "sev2", "False", "True"]
