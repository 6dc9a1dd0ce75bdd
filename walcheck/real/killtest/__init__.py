"""The SIGKILL campaign (spec/faults.md): a real writer process (``writer``)
killed at random moments, its file checked against what it acknowledged
(``checker``), many lives in a row (``campaign``)."""
