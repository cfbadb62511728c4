"""What meta.json records of the CPU a trial ran on."""

from harness import provenance
from harness.provenance import cpu_info

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 8
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile hypervisor

processor\t: 1
model name\t: another block, ignored
flags\t\t: fpu
"""


def test_cpu_info_reads_model_id_and_vector_flags_of_the_first_processor():
    info = cpu_info(CPUINFO)
    assert info == {"cpu": "Intel(R) Xeon(R) Processor", "cpu_id": "family 6 model 143 stepping 8",
                    "cpu_vector_flags": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni",
                                         "amx_tile"]}


def test_cpu_info_without_cpuinfo_says_unknown():
    info = cpu_info("")
    assert info["cpu_id"] == "unknown" and info["cpu_vector_flags"] == []
    assert info["cpu"]  # platform.processor() or "unknown", never empty


def test_cpu_info_of_this_machine_has_the_fields():
    info = cpu_info()
    assert set(info) == {"cpu", "cpu_id", "cpu_vector_flags"}
    assert all(isinstance(f, str) for f in info["cpu_vector_flags"])


def test_git_commit_in_an_image_comes_from_its_build(monkeypatch):
    """docker/Dockerfile sets ALGOBENCH_GIT_COMMIT: an image holds no .git to read."""
    monkeypatch.setenv("ALGOBENCH_GIT_COMMIT", "0123abc-dirty")
    assert provenance.git_commit() == "0123abc-dirty"
    monkeypatch.delenv("ALGOBENCH_GIT_COMMIT")
    assert provenance.git_commit() != "0123abc-dirty"
