"""The 3Blue1Brown attention chapter's GPT-3 arithmetic (../shared/seed), number by number, and the
GPT-3 paper's own tables."""

from attncalc import count_params, load_model, param_summary


def gpt3():
    return param_summary(load_model("gpt3"))


def test_query_and_key_matrices_are_128_by_12288():
    s = gpt3()
    assert s["attention"]["per_matrix"]["query"] == 1_572_864
    assert s["attention"]["per_matrix"]["key"] == 1_572_864
    assert s["attention"]["shapes"]["query"] == [128, 12_288]
    assert s["attention"]["shapes"]["value_up"] == [12_288, 128]


def test_one_head_96_heads_96_blocks():
    s = gpt3()
    assert s["attention"]["per_head"] == 6_291_456
    assert s["attention"]["heads_per_block"] == 603_979_776
    assert s["attention"]["heads_total"] == 57_982_058_496


def test_heads_are_about_a_third_of_the_total():
    s = gpt3()
    assert 0.33 < s["attention"]["heads_total"] / s["total"] < 0.34


def test_total_matches_table_d1_and_the_video_convention():
    s = gpt3()
    assert s["total"] == 174_604_259_328
    # GPT-3 paper, Table D.1 prints 174,600 (millions) for GPT-3 175B.
    assert round(s["total"] / 1e6, -2) == 174_600
    # The video's count: embedding, 4 attention matrices, 2 MLP matrices per block, unembedding.
    assert s["conventions"]["matrices_only"] == 175_181_291_520


# GPT-3 paper (Brown et al. 2020) Table 2.1 "n_params" column, and Table D.1 "Params (M)".
TABLE_2_1 = {"gpt3-small": 125e6, "gpt3-medium": 350e6, "gpt3-large": 760e6, "gpt3-xl": 1.3e9,
             "gpt3-2.7b": 2.7e9, "gpt3-6.7b": 6.7e9, "gpt3-13b": 13.0e9, "gpt3": 175.0e9}
TABLE_D_1 = {"gpt3-small": 125, "gpt3-medium": 356, "gpt3-large": 760, "gpt3-xl": 1320,
             "gpt3-2.7b": 2650, "gpt3-6.7b": 6660, "gpt3-13b": 12850, "gpt3": 174600}


def test_every_gpt3_size_rounds_to_its_published_figure():
    for name, published in TABLE_2_1.items():
        total = count_params(load_model(name)).total
        assert abs(total - published) / published < 0.02, name
    for name, millions in TABLE_D_1.items():
        total = count_params(load_model(name)).total
        assert abs(total / 1e6 - millions) / millions < 0.005, (name, total)
