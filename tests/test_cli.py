"""The command line through a subprocess, on small files written here."""

import csv
import struct

import numpy as np
import pytest
from conftest import run_python

import fastbp
from fastbp import cli
from fastbp._files import load_model


def fastbp_command(*args):
    return run_python("-m", "fastbp", *map(str, args))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """flowers.csv (a categorical target), houses.csv (a numeric one) and
    houses.npz (X and y)."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    species = np.where(
        X[:, 0] + X[:, 1] > 0.5, "setosa", np.where(X[:, 2] > 0, "virginica", "versicolor")
    )
    price = 1000 + 200 * X[:, 0] - 50 * X[:, 1] ** 2 + 30 * X[:, 2]
    for name, target, values in (
        ("flowers.csv", "species", species),
        ("houses.csv", "price", price),
    ):
        with open(folder / name, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["a", "b", "c", target])
            writer.writerows([*row, value] for row, value in zip(X.tolist(), values.tolist()))
    np.savez(folder / "houses.npz", X=X, y=price)
    return {"folder": folder, "X": X, "species": species, "price": price}


def _trained(files, data, target, name, *options):
    model = files["folder"] / name
    if not model.exists():
        result = fastbp_command(
            "train",
            files["folder"] / data,
            "--target",
            target,
            "--layers",
            "16",
            "--epochs",
            "40",
            "--save",
            model,
            *options,
        )
        assert result.returncode == 0, result.stderr
    return model


def _read_csv(text):
    rows = list(csv.reader(text.splitlines()))
    return rows[0], rows[1:]


def test_train_a_classifier_and_predict_in_a_new_process(files):
    result = fastbp_command(
        "train",
        files["folder"] / "flowers.csv",
        "--target",
        "species",
        "--layers",
        "16",
        "--epochs",
        "40",
        "--save",
        files["folder"] / "flowers.npz",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "300 examples of 3 inputs" in lines[0] and "softmax" in lines[0]
    assert lines[1].startswith("epoch 1/40  loss ")  # plain lines: not a terminal
    assert "accuracy" in lines[-1] and "saved" in lines[-1]
    predicted = fastbp_command(
        "predict", files["folder"] / "flowers.npz", files["folder"] / "flowers.csv"
    )
    assert predicted.returncode == 0, predicted.stderr
    header, rows = _read_csv(predicted.stdout)
    assert header == ["species", "p(setosa)", "p(versicolor)", "p(virginica)"]
    labels = np.array([row[0] for row in rows])
    assert np.mean(labels == files["species"]) > 0.9
    # the same as the trained network, never saved, computes in this process
    args = cli.build_parser().parse_args(
        [
            "train",
            str(files["folder"] / "flowers.csv"),
            "--target",
            "species",
            "--layers",
            "16",
            "--epochs",
            "40",
            "--save",
            "unused.npz",
        ]
    )
    net, info, scaling, _, _, _ = cli.train_model(args)
    here, proba = cli._predict(net, info, scaling, files["X"])
    np.testing.assert_array_equal(labels, here)
    np.testing.assert_array_equal(np.array([row[1:] for row in rows], dtype=float), proba)


def test_regression_comes_back_in_original_units(files, tmp_path):
    model = _trained(files, "houses.csv", "price", "houses-model.npz")
    out = tmp_path / "predictions.csv"
    result = fastbp_command("predict", model, files["folder"] / "houses.csv", "-o", out)
    assert result.returncode == 0, result.stderr
    header, rows = _read_csv(out.read_text())
    assert header == ["price"]
    predicted = np.array(rows, dtype=float)[:, 0]
    net, info, arrays = load_model(str(model))
    scaling = tuple(arrays[name] for name in cli.SCALING)
    np.testing.assert_array_equal(predicted, cli._predict(net, info, scaling, files["X"])[0][:, 0])
    # prices around 1000, not standardised values around 0
    assert np.abs(predicted - files["price"]).mean() < 0.1 * files["price"].std()


def test_eval(files):
    model = _trained(files, "houses.csv", "price", "houses-model.npz")
    result = fastbp_command("eval", model, files["folder"] / "houses.csv", "--target", "price")
    assert result.returncode == 0, result.stderr
    r2 = float(result.stdout.split("R^2")[1])
    assert 0.95 < r2 <= 1
    classifier = _trained(files, "flowers.csv", "species", "flowers-eval.npz")
    result = fastbp_command(
        "eval", classifier, files["folder"] / "flowers.csv", "--target", "species"
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split("accuracy")[1]) > 0.9


def test_npz_data(files):
    model = _trained(files, "houses.npz", "y", "from-npz.npz", "--dtype", "float32")
    result = fastbp_command("predict", model, files["folder"] / "houses.npz")
    assert result.returncode == 0, result.stderr
    header, rows = _read_csv(result.stdout)
    assert header == ["y"] and len(rows) == 300
    result = fastbp_command("eval", model, files["folder"] / "houses.npz", "--target", "y")
    assert float(result.stdout.split("R^2")[1]) > 0.9


@pytest.mark.compiled
def test_info():
    result = fastbp_command("info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fastbp ")
    for word in ("backend", "OpenMP", "SIMD", "CPU"):
        assert word in result.stdout


@pytest.mark.compiled
def test_verify():
    result = fastbp_command("verify", "--layers", "5,4,2", "--epochs", "2", "--all")
    assert result.returncode == 0, result.stderr
    assert "epoch 2: largest weight difference" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("verdict: PASS")
    assert "at most" not in result.stdout
    # a large network: a sample of 200 weights a layer, not all 101,770
    large = fastbp_command("verify", "--layers", "784,128,10", "--epochs", "1")
    assert large.returncode == 0, large.stderr
    assert "200 weights of each at most (--all: every weight)" in large.stdout
    assert large.stdout.splitlines()[-1].startswith("verdict: PASS")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["train", "{folder}/missing.csv", "--target", "y", "--save", "m.npz"],
            "missing.csv: no such file",
        ),
        (
            ["train", "{folder}/houses.csv", "--target", "cost", "--save", "m.npz"],
            "no column 'cost'; the columns are a, b, c, price",
        ),
        (
            ["train", "{folder}/bad.csv", "--target", "y", "--save", "m.npz"],
            "bad.csv: line 3, column 'b': 'x' is not a finite number",
        ),
        (
            ["train", "{folder}/bad.csv", "--target", "b", "--save", "m.npz"],
            "bad.csv: line 4, column 'b': no value",
        ),
        (
            [
                "train",
                "{folder}/houses.csv",
                "--target",
                "price",
                "--save",
                "m.npz",
                "--layers",
                "0",
            ],
            "argument --layers: layer sizes must be >= 1",
        ),
        (
            [
                "train",
                "{folder}/houses.csv",
                "--target",
                "price",
                "--save",
                "m.npz",
                "--hidden",
                "softplus",
            ],
            "argument --hidden: invalid choice: 'softplus'",
        ),
        (
            ["train", "{folder}/houses.csv", "--target", "price", "--save", "m.npz", "--lr", "-1"],
            "argument --lr: expected a number in (0, 1e+06], got '-1'",
        ),
        (["train", "{folder}/houses.csv", "--save", "m.npz"], "--target"),
        (["predict", "{folder}/houses.csv", "{folder}/houses.csv"], "not a model file"),
        (
            ["train", "{folder}/bad.svm", "--target", "y", "--save", "m.npz"],
            "bad.svm: line 2: '3=1' is not index:value",
        ),
        (["demo", "--points", "1"], "argument --points: expected an integer >= 2, got '1'"),
        (["demo", "--dataset", "iris"], "invalid choice: 'iris'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(files, args, message):
    (files["folder"] / "bad.csv").write_text("a,b,y\n1,2,3\n4,x,5\n6,,7\n")
    (files["folder"] / "bad.svm").write_text("1 1:0.5\n0 3=1\n")
    result = fastbp_command(*[arg.format(folder=files["folder"]) for arg in args])
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_the_traceback(files):
    result = fastbp_command(
        "--debug", "train", files["folder"] / "missing.csv", "--target", "y", "--save", "m.npz"
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
    assert "UsageError: " in result.stderr


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24]), len(data)


@pytest.mark.parametrize("dataset", ["spirals", "xor", "sine", "digits"])
def test_demo_writes_a_picture(dataset, tmp_path):
    picture = tmp_path / "demo.png"
    args = ["--points", "400", "--epochs", "20"] if dataset == "spirals" else []
    result = fastbp_command("demo", "--dataset", dataset, "--plot", picture, *args)
    assert result.returncode == 0, result.stderr
    assert f"wrote {picture}" in result.stdout
    (width, height), size = _png_size(picture)
    assert 800 <= width <= 2000 and 300 <= height <= 1000 and size > 20_000
    score = {"sine": "R^2", "digits": "test accuracy"}.get(dataset, "training accuracy")
    assert score in result.stdout


def test_demo_plot_without_matplotlib_fails_before_training():
    result = run_python(
        "-c",
        "import sys; sys.modules['matplotlib'] = None\n"
        "from fastbp.cli import main\n"
        "raise SystemExit(main(['demo', '--plot', 'never.png']))",
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        'fastbp demo: error: fastbp.plot needs matplotlib: pip install "fastbp[plot]"'
    )


def test_the_cli_reports_a_damaged_model_in_one_line(tmp_path):
    data_file = tmp_path / "data.csv"
    rows = ["a,b,y"] + [f"{i % 7},{i % 3},{i % 2}" for i in range(40)]
    data_file.write_text("\n".join(rows) + "\n")
    model = tmp_path / "model.npz"
    trained = run_python(
        "-m",
        "fastbp",
        "train",
        str(data_file),
        "--target",
        "y",
        "--save",
        str(model),
        "--epochs",
        "2",
    )
    assert trained.returncode == 0, trained.stderr
    assert run_python("-m", "fastbp", "predict", str(model), str(data_file)).returncode == 0
    whole = model.read_bytes()
    model.write_bytes(whole[: len(whole) // 2])
    for command in ("predict", "eval"):
        extra = ("--target", "y") if command == "eval" else ()
        result = run_python("-m", "fastbp", command, str(model), str(data_file), *extra)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
        assert "not a valid fastbp model file" in result.stderr


def test_the_cli_reports_a_too_large_network_in_one_line(tmp_path):
    data_file = tmp_path / "data.csv"
    data_file.write_text("a,y\n1,0\n2,1\n3,0\n")
    for layers in ("100000000,100000000", "10000000000,10000000000"):
        result = run_python(
            "-m",
            "fastbp",
            "train",
            str(data_file),
            "--target",
            "y",
            "--save",
            str(tmp_path / "m.npz"),
            "--layers",
            layers,
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_eval_takes_the_model_s_target_by_default(files):
    model = _trained(files, "flowers.csv", "species", "flowers-default-target.npz")
    result = fastbp_command("eval", model, files["folder"] / "flowers.csv")
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split("accuracy")[1]) > 0.9


def test_save_to_a_missing_folder_fails_before_training(files):
    result = fastbp_command(
        "train",
        files["folder"] / "flowers.csv",
        "--target",
        "species",
        "--save",
        files["folder"] / "missing" / "model.npz",
    )
    assert result.returncode == 2 and "no such directory" in result.stderr
    assert "epoch" not in result.stdout  # nothing was trained


def test_numeric_class_labels_come_back_as_written(files, tmp_path):
    data = tmp_path / "parity.csv"
    X = files["X"]
    with open(data, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["a", "b", "c", "odd"])
        writer.writerows([*row, int(row[0] > 0)] for row in X.tolist())
    model = tmp_path / "parity.npz"
    trained = fastbp_command(
        "train", data, "--target", "odd", "--classify", "--epochs", "5", "--save", model
    )
    assert trained.returncode == 0, trained.stderr
    result = fastbp_command("predict", model, data)
    header, rows = _read_csv(result.stdout)
    assert header == ["odd", "p(0)", "p(1)"]
    assert {row[0] for row in rows} <= {"0", "1"}


def test_svmlight_files_train_as_the_same_table_unscaled(files, tmp_path):
    # sparse inputs are not standardised (centring would fill in the zeros),
    # so an svmlight file trains as its table does with --no-standardize
    X = np.where(np.abs(files["X"]) < 0.5, 0.0, files["X"])
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    table, svm = tmp_path / "t.csv", tmp_path / "t.svm"
    with open(table, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["1", "2", "3", "label"])
        writer.writerows([*row, label] for row, label in zip(X.tolist(), labels.tolist()))
    with open(svm, "w") as file:
        file.write("# inputs counted from 1\n")
        for row, label in zip(X, labels):
            entries = " ".join(
                f"{k + 1}:{value!r}" for k, value in enumerate(row.tolist()) if value
            )
            file.write(f"{label} {entries}\n")
    models = []
    for data, options in ((table, ["--no-standardize"]), (svm, [])):
        models.append(tmp_path / f"{data.suffix[1:]}-model.npz")
        result = fastbp_command(
            "train",
            data,
            "--target",
            "label",
            "--classify",
            "--layers",
            "8",
            "--epochs",
            "5",
            "--save",
            models[-1],
            *options,
        )
        assert result.returncode == 0, result.stderr
    dense, sparse_trained = (load_model(str(model))[0] for model in models)
    np.testing.assert_allclose(sparse_trained.flat, dense.flat, rtol=0, atol=1e-12)
    predicted = fastbp_command("predict", models[1], svm)
    assert predicted.returncode == 0, predicted.stderr
    header, rows = _read_csv(predicted.stdout)
    assert header == ["label", "p(0)", "p(1)"] and len(rows) == len(labels)
    evaluated = fastbp_command("eval", models[1], svm)
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"{len(labels)} examples" in evaluated.stdout
    assert float(evaluated.stdout.split("accuracy")[1]) > 0.8
    (tmp_path / "wide.svm").write_text("1 1:1 4:1\n")
    wide = fastbp_command("predict", models[1], tmp_path / "wide.svm")
    assert wide.returncode == 2 and "index 4 is beyond the model's 3 inputs" in wide.stderr


def test_an_svmlight_model_keeps_its_width_not_a_name_per_column(tmp_path):
    # 2^18 hashed features (docs/sparse.md's case): the model reads back
    svm = tmp_path / "c.svm"
    svm.write_text(f"1 1:1\n0 {2**18}:1\n1 7:0.5 {2**18 - 3}:2\n")
    model = tmp_path / "c.npz"
    result = fastbp_command(
        "train",
        svm,
        "--target",
        "y",
        "--classify",
        "--layers",
        "2",
        "--epochs",
        "1",
        "--save",
        model,
    )
    assert result.returncode == 0, result.stderr
    assert model.stat().st_size < 2**18 * 2 * 8 * 1.1 + 2**18 * 16 + 100_000
    for command in ("predict", "eval"):
        result = fastbp_command(command, model, svm)
        assert result.returncode == 0, result.stderr
    assert load_model(str(model))[1]["columns"] == {"first_index": 1, "count": 2**18}


# the command with its address space held to LIMITED_MEMORY bytes
LIMITED_COMMAND = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from fastbp import cli
sys.exit(cli.main({argv!r}))
"""
LIMITED_MEMORY = 3 << 30


@pytest.mark.parametrize(
    "index, message",
    [
        (20_000_000, "index 20000000 is beyond the 1048576 inputs read without --n-features"),
        (10**9, "index 1000000000 is beyond"),
        (2**70, f"index {2**70} is beyond"),
    ],
)
def test_a_large_svmlight_index_is_refused_before_anything_large(tmp_path, index, message):
    """Refused as one line and exit code 2 by a command whose address space
    is held to LIMITED_MEMORY: nothing the size of such an index is made."""
    svm = tmp_path / "big.svm"
    svm.write_text(f"1 {index}:1\n")
    argv = ["train", str(svm), "--target", "y", "--layers", "2", "--epochs", "1"]
    argv += ["--save", str(tmp_path / "m.npz")]
    result = run_python("-c", LIMITED_COMMAND.format(limit=LIMITED_MEMORY, argv=argv))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"fastbp train: error: {svm}: line 1: {message}" in result.stderr
    assert not (tmp_path / "m.npz").exists()


def test_n_features_sets_an_svmlight_files_width(tmp_path):
    svm = tmp_path / "s.svm"
    svm.write_text("1 1:1\n0 3:1\n")
    model = tmp_path / "s.npz"
    result = fastbp_command(
        "train",
        svm,
        "--target",
        "y",
        "--layers",
        "2",
        "--epochs",
        "1",
        "--n-features",
        "10",
        "--save",
        model,
    )
    assert result.returncode == 0, result.stderr
    assert load_model(str(model))[0].layers[0] == 10
    too_few = fastbp_command("train", svm, "--target", "y", "--n-features", "2", "--save", model)
    assert too_few.returncode == 2
    assert "index 3 is beyond the 2 inputs of --n-features" in too_few.stderr


def _big_field(folder):
    (folder / "field.csv").write_text("a,y\n" + "1" * 200_000 + ",1\n")
    return "field.csv"


def _write(name, content):
    def make(folder):
        (folder / name).write_bytes(content) if isinstance(content, bytes) else (
            folder / name
        ).write_text(content)
        return name

    return make


@pytest.mark.parametrize(
    "make, options, message",
    [
        (_big_field, [], "field.csv: line 2: field larger than field limit"),
        (_write("cut.npz", b"PK\x03\x04 not really a zip"), [], "cut.npz: not a readable .npz"),
        (_write("text.npz", "a,b\n1,2\n"), [], "text.npz: not a readable .npz"),
        (_write("huge.svm", f"1 {2**70}:1\n"), [], f"index {2**70} is beyond"),
        (
            _write("inf.csv", "a,y\n1e400,1\n2,0\n"),
            [],
            "column 'a': '1e400' is not a finite number",
        ),
        (_write("nan.csv", "a,y\nnan,1\n2,0\n"), [], "column 'a': 'nan' is not a finite number"),
        (
            _write("inf_y.csv", "a,y\n1,inf\n2,0\n"),
            [],
            "the target holds a value that is NaN or infinite: 'inf'",
        ),
        (_write("big_y.csv", "a,y\n1,1e400\n2,0\n"), [], "NaN or infinite: '1e400'"),
        (_write("inf_label.csv", "a,y\n1,inf\n2,0\n3,1\n"), ["--classify"], "NaN or infinite"),
        (_write("nan_label.csv", "a,y\n1,nan\n2,0\n3,1\n"), ["--classify"], "NaN or infinite"),
        (_write("inf.npy", b""), [], "inf.npy: not a readable .npy file"),
        (
            _write("ok.csv", "a,y\n1,1\n2,0\n"),
            ["--seed", "-1"],
            "argument --seed: expected an integer >= 0, got '-1'",
        ),
        (
            _write("ok.csv", "a,y\n1,1\n2,0\n"),
            ["--n-features", "5"],
            "--n-features is for svmlight",
        ),
    ],
)
def test_bad_files_and_options_are_one_line_and_no_warning(tmp_path, make, options, message):
    name = make(tmp_path)
    result = run_python(
        "-W",
        "error",
        "-m",
        "fastbp",
        "train",
        str(tmp_path / name),
        "--target",
        "y",
        "--save",
        str(tmp_path / "m.npz"),
        *options,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr and "Warning" not in result.stderr


def test_non_finite_npy_inputs_are_one_line(tmp_path):
    np.save(tmp_path / "inf.npy", np.array([[1.0, 0.0], [np.inf, 1.0]]))
    result = fastbp_command(
        "train", tmp_path / "inf.npy", "--target", "1", "--save", tmp_path / "m.npz"
    )
    assert result.returncode == 2 and "the inputs hold NaN or infinity" in result.stderr


def test_a_model_and_a_file_of_another_kind_are_one_line(files, tmp_path):
    csv_model = _trained(files, "houses.csv", "price", "houses-model.npz")
    svm = tmp_path / "t.svm"
    svm.write_text("1 1:1 3:2\n")
    result = fastbp_command("predict", csv_model, svm)
    assert result.returncode == 2
    assert "the model was trained on a table with named columns" in result.stderr
    svm_model = tmp_path / "svm-model.npz"
    assert (
        fastbp_command(
            "train", svm, "--target", "y", "--layers", "2", "--epochs", "1", "--save", svm_model
        ).returncode
        == 0
    )
    result = fastbp_command("predict", svm_model, files["folder"] / "houses.csv")
    assert result.returncode == 2 and "trained on an svmlight file" in result.stderr


def test_verify_names_a_bad_momentum(tmp_path):
    result = fastbp_command("verify", "--momentum", "1.5")
    assert result.returncode == 2
    assert "argument --momentum: expected a number in [0, 1), got '1.5'" in result.stderr
    assert "lr" not in result.stderr


def test_bare_fastbp_shows_the_commands_and_version_and_debug_work():
    bare = fastbp_command()
    assert bare.returncode == 2
    assert "usage: fastbp" in bare.stderr and "verify" in bare.stderr and "train" in bare.stderr
    version = fastbp_command("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"fastbp {fastbp.__version__}"
    late = fastbp_command("train", "missing.csv", "--target", "y", "--save", "m.npz", "--debug")
    assert late.returncode != 0 and "Traceback" in late.stderr
    helped = fastbp_command("demo", "--help")
    assert helped.returncode == 0 and "``" not in helped.stdout


@pytest.mark.parametrize(
    "option",
    [
        ["--epochs", "0"],
        ["--lr", "-1"],
        ["--threads", "0"],
        ["--layers", "64,,32"],
        ["--batch-size", "0"],
        ["--validation-fraction", "1.5"],
        ["--momentum", "1"],
    ],
)
def test_bad_options_are_refused_before_the_data_is_read(files, option):
    result = fastbp_command(
        "train",
        files["folder"] / "houses.csv",
        "--target",
        "price",
        "--save",
        files["folder"] / "never.npz",
        *option,
    )
    assert result.returncode == 2
    assert result.stdout == ""  # no "... examples of ... inputs" line
    assert f"argument {option[0]}" in result.stderr


@pytest.mark.parametrize("columns", [0, 12, 120])
def test_a_terminal_of_any_width_shows_the_epochs(files, tmp_path, columns):
    # stderr a terminal of that many columns: a bar where one fits, an
    # epoch's line where none does (a terminal of 0 columns showed neither)
    import fcntl
    import os
    import pty
    import subprocess
    import sys
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    home = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-W",
                "ignore::RuntimeWarning",
                "-m",
                "fastbp",
                "train",
                str(files["folder"] / "houses.csv"),
                "--target",
                "price",
                "--epochs",
                "3",
                "--save",
                str(tmp_path / "m.npz"),
            ],
            stdout=subprocess.PIPE,
            stderr=follower,
            cwd=home,
            timeout=300,
            text=True,
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                piece = os.read(leader, 1 << 16)
            except OSError:
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(leader)
    assert result.returncode == 0
    lines = "epoch 3/3  loss" in result.stdout
    bar = b"epochs" in shown
    assert lines != bar and (bar if columns >= 40 else lines), (result.stdout, shown)


def test_train_says_when_it_did_not_learn_stopped_early_and_both_clocks(files, tmp_path):
    data = files["folder"] / "flowers.csv"
    wild = fastbp_command(
        "train",
        data,
        "--target",
        "species",
        "--lr",
        "1e6",
        "--epochs",
        "5",
        "--save",
        tmp_path / "wild.npz",
    )
    assert wild.returncode == 0, wild.stderr
    assert "warning: the last epoch's training loss" in wild.stderr
    assert "the network did not learn; try a smaller --lr" in wild.stderr
    calm = fastbp_command(
        "train",
        data,
        "--target",
        "species",
        "--epochs",
        "30",
        "--lr",
        "0.05",
        "--save",
        tmp_path / "calm.npz",
    )
    assert calm.returncode == 0 and "warning" not in calm.stderr, calm.stderr
    last = calm.stdout.splitlines()[-1]
    assert last.startswith("30 epochs: training ") and "examples/s), " in last
    assert "s in all with reading the data" in last
    early = fastbp_command(
        "train",
        data,
        "--target",
        "species",
        "--epochs",
        "500",
        "--early-stopping",
        "--lr",
        "0.05",
        "--save",
        tmp_path / "early.npz",
    )
    assert early.returncode == 0, early.stderr
    stopped = [line for line in early.stdout.splitlines() if line.startswith("stopped early")]
    assert len(stopped) == 1 and "of 500: the validation loss stopped improving" in stopped[0]
    after, kept = (
        int(part.split()[-1].rstrip(":")) for part in (stopped[0].split(" of ")[0], stopped[0])
    )
    assert 1 <= kept < after < 500


def test_a_model_saved_by_network_save_predicts_and_evaluates_raw(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    net = fastbp.Network([3, 4, 1], seed=0)
    net.fit(X, y, epochs=20, lr=0.01)
    net.save(tmp_path / "raw.npz")
    np.savez(tmp_path / "data.npz", X=X, y=y)
    predicted = fastbp_command("predict", tmp_path / "raw.npz", tmp_path / "data.npz")
    assert predicted.returncode == 0, predicted.stderr
    header, rows = _read_csv(predicted.stdout)
    assert header == ["output"]
    np.testing.assert_allclose([float(row[0]) for row in rows], net.predict(X).ravel(), rtol=1e-15)
    evaluated = fastbp_command("eval", tmp_path / "raw.npz", tmp_path / "data.npz", "--target", "y")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"loss {net.loss(X, y):.6g}" in evaluated.stdout
    untargeted = fastbp_command("eval", tmp_path / "raw.npz", tmp_path / "data.npz")
    assert untargeted.returncode == 2 and "give --target" in untargeted.stderr
    np.save(tmp_path / "wide.npy", np.hstack([X, X]))
    wide = fastbp_command("predict", tmp_path / "raw.npz", tmp_path / "wide.npy")
    assert wide.returncode == 2 and "6 input columns, the model takes 3" in wide.stderr


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("FASTBP_BACKEND", "bogus", "FASTBP_BACKEND must be 'compiled' or 'reference'"),
        pytest.param(
            "FASTBP_ISA", "bogus", "FASTBP_ISA must be one of", marks=pytest.mark.compiled
        ),  # read only where the core was built
    ],
)
def test_environment_mistakes_are_one_line_from_the_command_line(variable, value, message):
    result = run_python("-m", "fastbp", "info", **{variable: value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"fastbp: error: {message}")
    library = run_python("-c", "import fastbp", **{variable: value})  # as before
    assert library.returncode == 1 and f"ImportError: {message}" in library.stderr


def test_columns_drop_and_fill_missing_choose_and_complete_the_inputs(files, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    data = tmp_path / "people.csv"
    with open(data, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "a", "note", "b", "other_target", "y"])
        for k, (row, label) in enumerate(zip(X.tolist(), y.tolist())):
            a = "" if k % 10 == 3 else row[0]  # a missing value now and then
            writer.writerow([f"p{k}", a, "some text", row[1], 1 - label, label])
    model = tmp_path / "m.npz"
    refused = fastbp_command("train", data, "--target", "y", "--save", model)
    assert refused.returncode == 2 and "column 'id'" in refused.stderr
    no_fill = fastbp_command("train", data, "--target", "y", "--columns", "a,b", "--save", model)
    assert no_fill.returncode == 2
    assert "line 5, column 'a': no value (train's --fill-missing mean" in no_fill.stderr
    for choice in (["--columns", "a,b"], ["--drop", "id,note,other_target"]):
        trained = fastbp_command(
            "train",
            data,
            "--target",
            "y",
            "--classify",
            "--epochs",
            "30",
            "--lr",
            "0.05",
            "--fill-missing",
            "mean",
            "--save",
            model,
            *choice,
        )
        assert trained.returncode == 0, trained.stderr
        assert "200 examples of 2 inputs" in trained.stdout
        info = load_model(str(model))[1]
        assert info["columns"] == ["a", "b"]
        present = X[np.arange(200) % 10 != 3, 0]
        np.testing.assert_allclose(info["fill"], [present.mean(), X[:, 1].mean()], rtol=1e-12)
        evaluated = fastbp_command("eval", model, data)  # fills as it was trained
        assert evaluated.returncode == 0, evaluated.stderr
        assert float(evaluated.stdout.split("accuracy")[1]) > 0.9
    both = fastbp_command(
        "train", data, "--target", "y", "--columns", "a", "--drop", "id", "--save", model
    )
    assert both.returncode == 2 and "not both" in both.stderr
