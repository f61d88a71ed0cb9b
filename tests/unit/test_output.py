"""What the command prints for a run, a status or a backfill with no file at all."""

import io

from pipeline.output import exit_status, print_table


def test_no_files_is_said_in_words_and_is_not_a_failure():
    out = io.StringIO()
    print_table([], out)
    assert out.getvalue().rstrip().endswith("No files.")
    assert exit_status([]) == 0
