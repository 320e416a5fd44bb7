"""Benchmark-corpus scanners (IEMOCAP, RAVDESS, CREMA-D, TESS, FAU-Aibo, ALC, SLD, folder).

Every test builds a small tree in tmp_path that imitates the corpus' published layout, with
short generated tones as audio (no corpus data is checked in), and checks what the scanner
makes of it: labels, counts, speakers, genders, splits, excluded/unknown accounting and the
error messages. Two tests run the whole `build()` on such trees.
"""

import collections
import io
import json

import numpy as np
import pytest
import soundfile as sf

from smoothclap.data import alc, build, crema_d, fau_aibo, folder, iemocap, label_texts, ravdess, sld, tess
from smoothclap.data.corpus import FULL_SPLIT, CorpusError, get_corpus, validate_record
from smoothclap.data.report import BuildReport

ALL = [iemocap, ravdess, crema_d, tess, fau_aibo, alc, sld]


def _tone(freq: float = 220.0, seconds: float = 0.6, sr: int = 16000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    # a little vibrato and an envelope so openSMILE finds a voiced, varying signal
    x = 0.3 * np.sin(2 * np.pi * freq * t + 3 * np.sin(2 * np.pi * 5 * t)) * np.hanning(t.size)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


_WAV = _tone()


def _wav(path, data: bytes = _WAV):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _scan(module, root, config="default", **options):
    report = BuildReport(module.NAME, config)
    records = list(module.scan(root, config, dict(options, report=report)))
    for rec in records:  # every record honours the contract
        cfg = module.CONFIGS[config] if config in module.CONFIGS else None
        if cfg is not None:
            validate_record(rec, cfg, module.NAME)
    return records, report


def _by_id(records):
    return {r["id"]: r for r in records}


# --------------------------------------------------------------------------- configs
REFERENCE_TEXTS = {
    # ParaCLAP evaluation texts (NOTES.md); only IEMOCAP is wrapped in the template.
    (iemocap, "default"): ["this person is feeling neutral.", "this person is feeling happy.",
                           "this person is feeling anger.", "this person is feeling sadness."],
    (ravdess, "default"): ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                           "surprised"],
    (crema_d, "default"): ["sad", "angry", "disgust", "fear", "happy", "neutral"],
    (tess, "default"): ["neutral", "happy", "sadness", "angry", "fear", "disgust",
                        "pleasant surprise"],
    (fau_aibo, "5class"): ["angry", "emphatic", "neutral", "motherese", "rest"],
    (fau_aibo, "2class"): ["non-negative", "negative"],
    (alc, "default"): ["intoxicated with alcohol", "not intoxicated with alcohol"],
    (sld, "default"): ["likeable", "not likeable"],
}


@pytest.mark.parametrize("module,config", list(REFERENCE_TEXTS), ids=lambda x: getattr(x, "NAME", x))
def test_configs_carry_reference_query_texts_in_label_order(module, config):
    cfg = module.CONFIGS[config]
    assert cfg.query_texts == REFERENCE_TEXTS[(module, config)]
    assert len(cfg.labels) == len(cfg.query_texts) == len(set(cfg.labels))
    assert cfg.needs_data_dir and cfg.citation and cfg.homepage and cfg.license
    assert get_corpus(module.NAME) is module


@pytest.mark.parametrize("module", ALL + [folder], ids=lambda m: m.NAME)
def test_missing_root_names_the_path(module, tmp_path):
    missing = tmp_path / "not-there"
    config = next(iter(module.CONFIGS))
    with pytest.raises(CorpusError, match="not-there"):
        list(module.scan(missing, config, {}))


@pytest.mark.parametrize("module", [iemocap, ravdess, tess, crema_d], ids=lambda m: m.NAME)
def test_empty_root_is_an_error_not_an_empty_corpus(module, tmp_path):
    (tmp_path / "AudioWAV").mkdir()
    with pytest.raises(CorpusError, match=str(tmp_path)):
        list(module.scan(tmp_path, "default", {}))


# --------------------------------------------------------------------------- IEMOCAP
IEMO_HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def _iemocap_tree(root, extra_code=None):
    dialogs = {
        ("Session1", "Ses01F_impro01"): [
            ("Ses01F_impro01_F000", "neu", "2.5000, 2.0000, 3.0000"),
            ("Ses01F_impro01_M000", "hap", "4.0000, 3.5000, 3.0000"),
            ("Ses01F_impro01_F001", "exc", "4.5000, 4.0000, 3.5000"),
            ("Ses01F_impro01_M001", "ang", "1.5000, 4.0000, 4.5000"),
            ("Ses01F_impro01_F002", "fru", "2.0000, 3.0000, 3.0000"),
        ],
        ("Session2", "Ses02M_script01_1"): [
            ("Ses02M_script01_1_F000", "sad", "1.0000, 1.5000, 2.0000"),
            ("Ses02M_script01_1_M000", "xxx", "3.0000, 3.0000, 3.0000"),
            ("Ses02M_script01_1_M001", extra_code or "neu", "3.0000, 2.0000, 2.5000"),
        ],
    }
    for (session, dialog), utts in dialogs.items():
        eval_dir = root / session / "dialog" / "EmoEvaluation"
        eval_dir.mkdir(parents=True, exist_ok=True)
        lines = [IEMO_HEADER]
        for i, (utt, code, vad) in enumerate(utts):
            lines.append(f"[{i}.1000 - {i}.9000]\t{utt}\t{code}\t[{vad}]\n")
            lines.append("C-E1:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  3;\t()\n\n")
            _wav(root / session / "sentences" / "wav" / dialog / f"{utt}.wav")
        (eval_dir / f"{dialog}.txt").write_text("".join(lines))
        # per-rater files in subfolders must not be read
        (eval_dir / "Categorical").mkdir(exist_ok=True)
        (eval_dir / "Categorical" / f"{dialog}_e1_cat.txt").write_text(
            f"[0.1 - 0.9]\t{utts[0][0]}_X\tzzz\t[1, 1, 1]\n")
    return root


def test_iemocap_four_classes_speakers_sessions_and_ratings(tmp_path):
    root = _iemocap_tree(tmp_path / "IEMOCAP_full_release")
    records, report = _scan(iemocap, tmp_path)  # the folder above the release also works
    recs = _by_id(records)
    assert sorted(recs) == ["Ses01F_impro01_F000", "Ses01F_impro01_F001", "Ses01F_impro01_M000",
                            "Ses01F_impro01_M001", "Ses02M_script01_1_F000",
                            "Ses02M_script01_1_M001"]
    assert {k: r["label"] for k, r in recs.items()} == {
        "Ses01F_impro01_F000": "neutral", "Ses01F_impro01_M000": "happy",
        "Ses01F_impro01_F001": "happy", "Ses01F_impro01_M001": "angry",
        "Ses02M_script01_1_F000": "sad", "Ses02M_script01_1_M001": "neutral"}
    # speaker = session + the utterance's own gender, not the dialog prefix
    assert recs["Ses01F_impro01_M000"]["speaker"] == "Ses01M"
    assert recs["Ses01F_impro01_M000"]["gender"] == "male"
    assert recs["Ses02M_script01_1_F000"]["speaker"] == "Ses02F"
    assert recs["Ses02M_script01_1_F000"]["gender"] == "female"
    assert recs["Ses01F_impro01_F000"]["split"] == "session1"
    assert recs["Ses02M_script01_1_M001"]["split"] == "session2"
    # bracket order is [valence, activation, dominance]
    r = recs["Ses01F_impro01_M001"]
    assert (r["valence"], r["arousal"], r["dominance"]) == (1.5, 4.0, 4.5)
    assert r["emotion"] == "angry"
    assert r["audio"] == str(root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
                             / "Ses01F_impro01_M001.wav")
    assert report.dropped == {"category 'fru' is not in the 4-class selection": 1,
                              "category 'xxx' is not in the 4-class selection": 1}


def test_iemocap_unknown_code_is_listed_or_dropped_with_the_flag(tmp_path):
    _iemocap_tree(tmp_path, extra_code="joy")
    with pytest.raises(CorpusError, match="'joy' \\(1 rows\\)"):
        list(iemocap.scan(tmp_path, "default", {}))
    records, report = _scan(iemocap, tmp_path, drop_unknown=True)
    assert len(records) == 5
    assert report.dropped["unknown iemocap label code 'joy' (drop_unknown)"] == 1


def test_iemocap_missing_evaluation_folder_names_expected_path(tmp_path):
    (tmp_path / "Session1" / "sentences").mkdir(parents=True)
    with pytest.raises(CorpusError, match="Session1/dialog/EmoEvaluation"):
        list(iemocap.scan(tmp_path, "default", {}))


# --------------------------------------------------------------------------- RAVDESS
def test_ravdess_speech_only_actor_gender_and_counted_exclusions(tmp_path):
    for actor in (1, 2):
        for emo in range(1, 9):
            _wav(tmp_path / f"Actor_{actor:02d}" / f"03-01-{emo:02d}-01-01-01-{actor:02d}.wav")
    _wav(tmp_path / "Actor_01" / "03-02-03-01-01-01-01.wav")   # song
    _wav(tmp_path / "Actor_01" / "01-01-03-01-01-01-01.mp4")   # full AV video
    _wav(tmp_path / "Actor_02" / "._03-01-01-01-01-01-02.wav")  # macOS fork, not audio
    records, report = _scan(ravdess, tmp_path)
    assert len(records) == 16
    labels = collections.Counter(r["label"] for r in records)
    assert labels == {label: 2 for label in ravdess.CONFIGS["default"].labels}
    rec = _by_id(records)["03-01-07-01-01-01-02"]
    assert (rec["label"], rec["emotion"], rec["speaker"], rec["gender"], rec["split"]) == (
        "disgust", "disgusted", "Actor_02", "female", "all")
    assert _by_id(records)["03-01-01-01-01-01-01"]["gender"] == "male"
    assert report.dropped == {"song file (vocal channel 02)": 1,
                              "video file (modality 01/02), not audio-only": 1}


def test_ravdess_unknown_emotion_and_bad_name(tmp_path):
    _wav(tmp_path / "Actor_01" / "03-01-01-01-01-01-01.wav")
    _wav(tmp_path / "Actor_01" / "03-01-09-01-01-01-01.wav")
    with pytest.raises(CorpusError, match="'09'"):
        list(ravdess.scan(tmp_path, "default", {}))
    _wav(tmp_path / "Actor_01" / "notes.wav")
    with pytest.raises(CorpusError, match="MM-VV-EE-II-SS-RR-AA, e.g. notes"):
        list(ravdess.scan(tmp_path, "default", {}))
    records, report = _scan(ravdess, tmp_path, drop_unknown=True)
    assert [r["id"] for r in records] == ["03-01-01-01-01-01-01"]
    assert report.dropped_rows == 2


# --------------------------------------------------------------------------- CREMA-D
def _crema_tree(root, demographics=True):
    names = ["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_LO", "1002_TIE_NEU_XX",
             "1003_DFA_DIS_XX", "1091_WSI_FEA_MD"]
    for name in names:
        _wav(root / "AudioWAV" / f"{name}.wav")
    if demographics:
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n1003,21,Female,Asian,Not Hispanic\n")
    return names


def test_crema_d_labels_speakers_and_gender_from_demographics(tmp_path):
    _crema_tree(tmp_path)
    records, _ = _scan(crema_d, tmp_path)
    recs = _by_id(records)
    assert {k: r["label"] for k, r in recs.items()} == {
        "1001_DFA_ANG_XX": "angry", "1001_IEO_HAP_HI": "happy", "1002_DFA_SAD_LO": "sad",
        "1002_TIE_NEU_XX": "neutral", "1003_DFA_DIS_XX": "disgust", "1091_WSI_FEA_MD": "fear"}
    assert recs["1001_DFA_ANG_XX"]["speaker"] == "1001"
    assert recs["1001_DFA_ANG_XX"]["gender"] == "male"
    assert recs["1002_DFA_SAD_LO"]["gender"] == "female"
    assert recs["1091_WSI_FEA_MD"]["gender"] is None  # not in the demographics table
    assert recs["1003_DFA_DIS_XX"]["emotion"] == "disgusted"
    # the AudioWAV folder itself as data_dir, and no demographics file: gender None
    records, _ = _scan(crema_d, tmp_path / "AudioWAV")
    assert len(records) == 6
    (tmp_path / "VideoDemographics.csv").unlink()
    records, _ = _scan(crema_d, tmp_path)
    assert {r["gender"] for r in records} == {None}


def test_crema_d_unknown_emotion_code(tmp_path):
    _crema_tree(tmp_path)
    _wav(tmp_path / "AudioWAV" / "1004_DFA_CON_XX.wav")
    with pytest.raises(CorpusError, match="'CON'"):
        list(crema_d.scan(tmp_path, "default", {}))
    with pytest.raises(CorpusError, match="no.csv"):
        list(crema_d.scan(tmp_path, "default", {"demographics_file": str(tmp_path / "no.csv")}))


# --------------------------------------------------------------------------- TESS
def test_tess_spelling_variants_speakers_and_duplicates(tmp_path):
    root = tmp_path / "TESS Toronto emotional speech set data"
    files = ["OAF_angry/OAF_back_angry.wav", "OAF_disgust/OAF_back_disgust.wav",
             "OAF_Fear/OAF_back_fear.wav", "OAF_happy/OAF_back_happy.wav",
             "OAF_neutral/OAF_back_neutral.wav", "OAF_Pleasant_surprise/OAF_back_ps.wav",
             "OAF_Sad/OAF_back_sad.wav", "YAF_pleasant_surprised/YAF_bite_ps.wav",
             "YAF_fear/YAF_bite_Fear.wav", "YAF_sad/YAF_dog.wav"]
    for rel in files:
        _wav(root / rel)
    _wav(root / root.name / "OAF_angry" / "OAF_back_angry.wav")  # nested second copy
    records, report = _scan(tess, tmp_path)
    recs = _by_id(records)
    assert len(records) == 10
    assert set(r["label"] for r in records) == set(tess.CONFIGS["default"].labels)
    assert recs["OAF_back_ps"]["label"] == "pleasant_surprise"
    assert recs["OAF_back_ps"]["emotion"] == "surprised"
    assert recs["YAF_bite_Fear"]["label"] == "fear"
    assert recs["YAF_dog"]["label"] == "sad"  # from the folder name
    assert recs["YAF_bite_ps"]["speaker"] == "YAF"
    assert {r["gender"] for r in records} == {"female"}
    assert report.dropped == {"duplicate id (a second copy of the same file name)": 1}


def test_tess_unknown_emotion(tmp_path):
    _wav(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    _wav(tmp_path / "OAF_bored" / "OAF_back_bored.wav")
    with pytest.raises(CorpusError, match="'bored'"):
        list(tess.scan(tmp_path, "default", {}))


# --------------------------------------------------------------------------- FAU-Aibo
FAU_5CL = {"Ohm_01_001_00": "A", "Ohm_01_002_00": "E", "Ohm_02_001_00": "N",
           "Ohm_02_003_01": "P", "Mont_01_001_00": "R", "Mont_02_004_00": "N"}
FAU_2CL = {"Ohm_01_001_00": "NEG", "Ohm_01_002_00": "NEG", "Ohm_02_001_00": "IDL",
           "Ohm_02_003_01": "IDL", "Mont_01_001_00": "IDL", "Mont_02_004_00": "IDL"}


def _fau_tree(root, missing_wav="Mont_02_004_00"):
    labels = root / "labels" / "IS2009EmotionChallenge"
    labels.mkdir(parents=True)
    for name, table in (("5cl", FAU_5CL), ("2cl", FAU_2CL)):
        (labels / f"chunk_labels_{name}_corpus.txt").write_text(
            "".join(f"{chunk} {code} 1.0000\n" for chunk, code in table.items()))
    for chunk in FAU_5CL:
        if chunk != missing_wav:
            _wav(root / "wav" / f"{chunk}.wav")
    return labels


def test_fau_aibo_5class_schools_speakers_and_missing_audio_yielded(tmp_path):
    _fau_tree(tmp_path)
    records, _ = _scan(fau_aibo, tmp_path, config="5class")
    recs = _by_id(records)
    assert {k: r["label"] for k, r in recs.items()} == {
        "Ohm_01_001_00": "angry", "Ohm_01_002_00": "emphatic", "Ohm_02_001_00": "neutral",
        "Ohm_02_003_01": "positive", "Mont_01_001_00": "rest", "Mont_02_004_00": "neutral"}
    assert collections.Counter(r["split"] for r in records) == {"train": 4, "test": 2}
    assert recs["Ohm_02_003_01"]["speaker"] == "Ohm_02"
    assert recs["Mont_01_001_00"]["split"] == "test"
    assert [recs[k]["emotion"] for k in ("Ohm_01_001_00", "Ohm_01_002_00", "Ohm_02_001_00")] == [
        "angry", None, "neutral"]
    assert recs["Mont_02_004_00"]["audio"] == str(tmp_path / "wav" / "Mont_02_004_00.wav")


def test_fau_aibo_2class_and_labels_file_option(tmp_path):
    labels = _fau_tree(tmp_path)
    records, _ = _scan(fau_aibo, tmp_path, config="2class")
    assert collections.Counter(r["label"] for r in records) == {"negative": 2, "non-negative": 4}
    own = tmp_path / "my_labels.txt"
    own.write_text((labels / "chunk_labels_2cl_corpus.txt").read_text().replace("IDL", "NEG"))
    records, _ = _scan(fau_aibo, tmp_path, config="2class", labels_file=str(own))
    assert {r["label"] for r in records} == {"negative"}


def test_fau_aibo_errors_name_files_codes_and_schools(tmp_path):
    with pytest.raises(CorpusError, match="labels/IS2009EmotionChallenge/chunk_labels_5cl_corpus.txt"):
        list(fau_aibo.scan(tmp_path, "5class", {}))
    labels = _fau_tree(tmp_path)
    table = labels / "chunk_labels_5cl_corpus.txt"
    table.write_text(table.read_text() + "Ohm_03_001_00 X 0.5\nSchool_01_001_00 N 1.0\n")
    with pytest.raises(CorpusError, match="'X' \\(1 rows\\)"):
        list(fau_aibo.scan(tmp_path, "5class", {}))
    table.write_text(table.read_text().replace(" X ", " A "))
    with pytest.raises(CorpusError, match="split name.*'School'"):
        list(fau_aibo.scan(tmp_path, "5class", {}))
    records, report = _scan(fau_aibo, tmp_path, config="5class", drop_unknown=True)
    assert len(records) == 7 and report.dropped_rows == 1


# --------------------------------------------------------------------------- ALC / SLD
def test_alc_challenge_table_partitions_and_dist_folders(tmp_path):
    rows = [("TR_0001", "AL"), ("TR_0002", "NAL"), ("DE_0001", "NAL"), ("TE_0001", "AL"),
            ("TE_0002", "NAL")]
    (tmp_path / "ALC.csv").write_text(
        "file,challenge_class,bak\n" + "".join(f"{f},{c},0.0\n" for f, c in rows))
    folders = {"TR": "TRAIN", "DE": "DEVEL", "TE": "TEST"}
    for f, _ in rows[:-1]:
        _wav(tmp_path / "DIST" / folders[f[:2]] / f"{f}.wav")
    _wav(tmp_path / "elsewhere" / "TE_0002.wav")  # found by file name
    records, _ = _scan(alc, tmp_path)
    recs = _by_id(records)
    assert {k: (r["label"], r["split"]) for k, r in recs.items()} == {
        "TR_0001": ("intoxicated", "train"), "TR_0002": ("not_intoxicated", "train"),
        "DE_0001": ("not_intoxicated", "validation"), "TE_0001": ("intoxicated", "test"),
        "TE_0002": ("not_intoxicated", "test")}
    assert recs["TE_0001"]["audio"] == str(tmp_path / "DIST" / "TEST" / "TE_0001.wav")
    assert recs["TE_0002"]["audio"] == str(tmp_path / "elsewhere" / "TE_0002.wav")
    assert {r["emotion"] for r in records} == {None}


def test_alc_user_table_with_speaker_split_and_errors(tmp_path):
    with pytest.raises(CorpusError, match=str(tmp_path / "ALC.csv")):
        list(alc.scan(tmp_path, "default", {}))
    table = tmp_path / "mine.tsv"
    table.write_text("File\tLabel\tSpeaker\tSplit\tGender\n"
                     "a1.wav\tAL\tspk1\tdevel\tf\na2.wav\tNAL\tspk2\ttest\tm\n")
    records, _ = _scan(alc, tmp_path, labels_file=str(table))
    recs = _by_id(records)
    assert recs["a1"]["speaker"] == "spk1" and recs["a1"]["split"] == "validation"
    assert recs["a1"]["gender"] == "female" and recs["a2"]["gender"] == "male"
    assert recs["a2"]["audio"] == str(tmp_path / "DIST" / "TEST" / "a2.wav")  # yielded anyway
    table.write_text("file,label,split\na1,AL,holdout\na2,DRUNK,test\n")
    with pytest.raises(CorpusError, match="'DRUNK'"):
        list(alc.scan(tmp_path, "default", {"labels_file": str(table)}))
    table.write_text("file,label,split\na1,AL,holdout\na2,NAL,test\n")
    with pytest.raises(CorpusError, match="'holdout'"):
        list(alc.scan(tmp_path, "default", {"labels_file": str(table)}))
    table.write_text("name;klasse\na1;AL\n")
    with pytest.raises(CorpusError, match="missing label"):
        list(alc.scan(tmp_path, "default", {"labels_file": str(table)}))


def test_sld_semicolon_table_with_file_extensions(tmp_path):
    (tmp_path / "LSC_final_geheim.csv").write_text(
        "file;likability;score\ntrain_0001.wav;L;1.2\ndevel_0001.wav;NL;-0.3\n"
        "test_0001.wav;NL;-1.0\ntest_0002.wav;L;0.7\n")
    for name in ("train_0001", "devel_0001", "test_0001", "test_0002"):
        _wav(tmp_path / "wav" / f"{name}.wav")
    records, _ = _scan(sld, tmp_path)
    recs = _by_id(records)
    assert {k: (r["label"], r["split"]) for k, r in recs.items()} == {
        "train_0001": ("likeable", "train"), "devel_0001": ("not_likeable", "validation"),
        "test_0001": ("not_likeable", "test"), "test_0002": ("likeable", "test")}
    assert recs["test_0002"]["audio"] == str(tmp_path / "wav" / "test_0002.wav")


# --------------------------------------------------------------------------- folder
def test_folder_label_layout_template_and_speaker_regex(tmp_path):
    for label in ("angry", "calm", "pleasant_surprise"):
        for spk in ("s01", "s02"):
            _wav(tmp_path / label / f"{spk}_take1.flac")
    _wav(tmp_path / "stray.wav")  # outside any label folder
    (tmp_path / "docs").mkdir()   # no audio: not a label
    cfg = folder.resolve_config(tmp_path, "default", {"template": "the speaker sounds {}."})
    assert cfg.labels == ["angry", "calm", "pleasant_surprise"]
    assert cfg.query_texts == ["the speaker sounds angry.", "the speaker sounds calm.",
                               "the speaker sounds pleasant surprise."]
    assert folder.resolve_config(tmp_path).query_texts[0] == "this person is feeling angry."
    report = BuildReport("folder", "default")
    records = list(folder.scan(tmp_path, "default", {"speaker_regex": r"^(s\d+)_",
                                                     "report": report}))
    for rec in records:
        validate_record(rec, cfg, "folder")
    recs = _by_id(records)
    assert len(records) == 6
    assert recs["calm/s02_take1"]["speaker"] == "s02"
    assert recs["angry/s01_take1"]["emotion"] == "angry"
    assert recs["pleasant_surprise/s01_take1"]["emotion"] == "surprised"
    assert {r["split"] for r in records} == {"all"}
    assert [(r["path"], r["reason"].split(" (")[0]) for r in report.ignored] == [("stray.wav", "outside a label folder")]
    with pytest.raises(CorpusError, match="exactly once"):
        folder.resolve_config(tmp_path, "default", {"template": "{0} {1}"})


def test_folder_split_layout(tmp_path):
    for split, labels in (("train", ("happy", "sad")), ("valid", ("happy",)), ("test", ("sad", "x"))):
        for label in labels:
            _wav(tmp_path / split / label / "a.wav")
    records = list(folder.scan(tmp_path, "default", {}))
    assert sorted((r["split"], r["label"]) for r in records) == [
        ("test", "sad"), ("test", "x"), ("train", "happy"), ("train", "sad"),
        ("validation", "happy")]
    assert folder.labels_of(tmp_path) == ["happy", "sad", "x"]
    assert {r["speaker"] for r in records} == {None}
    assert _by_id(records)["valid/happy/a"]["emotion"] == "happy"


# --------------------------------------------------------------------------- end to end
def test_build_fau_aibo_end_to_end_without_features(tmp_path):
    data = tmp_path / "aibo"
    _fau_tree(data)
    out = tmp_path / "out"
    dd = build("fau_aibo", data, out, config_name="5class", features=False)
    assert sorted(dd) == ["test", "train"]
    names = fau_aibo.CONFIGS["5class"].labels
    assert dd["train"].features["label"].names == names
    train = {r["id"]: names[r["label"]] for r in dd["train"]}
    assert train == {"Ohm_01_001_00": "angry", "Ohm_01_002_00": "emphatic",
                     "Ohm_02_001_00": "neutral", "Ohm_02_003_01": "positive"}
    assert dd["test"]["id"] == ["Mont_01_001_00"]  # the missing wav is skipped, with a reason
    report = json.loads((out / "build_report.json").read_text())
    assert report["input_rows"] == 6 and report["built_rows"] == 5
    assert [s["id"] for s in report["skipped"]] == ["Mont_02_004_00"]
    assert label_texts(out) == (names, fau_aibo.CONFIGS["5class"].query_texts)


def test_build_iemocap_end_to_end_with_features(tmp_path):
    data = _iemocap_tree(tmp_path / "iemocap")
    out = tmp_path / "out"
    dd = build("iemocap", data, out, features=True)
    assert sorted(dd) == ["session1", "session2"]
    names = dd["session1"].features["label"].names
    assert names == ["neutral", "happy", "angry", "sad"]
    s1 = {r["id"]: (names[r["label"]], r["speaker"]) for r in dd["session1"]}
    assert s1 == {"Ses01F_impro01_F000": ("neutral", "Ses01F"),
                  "Ses01F_impro01_M000": ("happy", "Ses01M"),
                  "Ses01F_impro01_F001": ("happy", "Ses01F"),
                  "Ses01F_impro01_M001": ("angry", "Ses01M")}
    row = dd["session2"][0]
    assert len(row["egemaps"]) == 88 and row["duration"] == pytest.approx(0.6, abs=0.05)
    assert "emotion is" in " ".join(row["tag_sentences"])
    labels, texts = label_texts(out)
    assert texts == iemocap.CONFIGS["default"].query_texts
    report = json.loads((out / "build_report.json").read_text())
    assert report["dropped"] == {"category 'fru' is not in the 4-class selection": 1,
                                 "category 'xxx' is not in the 4-class selection": 1}


def test_build_folder_corpus_module_stores_data_dependent_labels(tmp_path):
    data = tmp_path / "mine"
    for split in ("train", "test"):
        for label in ("happy", "sad"):
            _wav(data / split / label / f"spk1_{split}.wav")
    out = tmp_path / "out"
    module = folder.corpus_module(data, {"template": "a {} voice."})
    dd = build(module, data, out, features=False, options={"template": "a {} voice."})
    assert dd["train"].features["label"].names == ["happy", "sad"]
    assert sorted(dd["test"]["id"]) == ["test/happy/spk1_test", "test/sad/spk1_test"]
    assert label_texts(out) == (["happy", "sad"], ["a happy voice.", "a sad voice."])


def test_build_corpus_without_splits_end_to_end(tmp_path):
    """The contract's split 'all' (reserved by datasets) is built as split 'full'."""
    data = tmp_path / "tess"
    for rel in ("OAF_angry/OAF_back_angry.wav", "OAF_Pleasant_surprise/OAF_back_ps.wav",
                "YAF_sad/YAF_back_sad.wav"):
        _wav(data / rel)
    out = tmp_path / "out"
    dd = build("tess", data, out, features=False)
    assert list(dd) == [FULL_SPLIT]
    (ds,) = dd.values()
    names = ds.features["label"].names
    assert names == tess.CONFIGS["default"].labels
    assert sorted(names[x] for x in ds["label"]) == ["angry", "pleasant_surprise", "sad"]
    assert label_texts(out)[1] == tess.CONFIGS["default"].query_texts


def test_cli_builds_folder_corpus_with_its_own_labels(tmp_path):
    """`build folder` from the command line resolves the data-dependent label set."""
    from smoothclap.data.__main__ import main

    data = tmp_path / "mine"
    for label in ("bored", "excited"):
        for i in range(2):
            _wav(data / label / f"s{i}_{label}.wav")
    out = tmp_path / "out"
    assert main(["build", "folder", "--data-dir", str(data), "--output", str(out), "--no-features",
                 "--num-workers", "1", "--option", "template=the speaker sounds {}."]) in (0, None)
    labels, texts = label_texts(out)
    assert labels == ["bored", "excited"]
    assert texts == ["the speaker sounds bored.", "the speaker sounds excited."]
