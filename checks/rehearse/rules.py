"""Rules of the rehearsal family: what starting the committed configuration shows."""

from __future__ import annotations

from imap_gate.rules import Rule
from imap_gate.severity import Severity

DOVECOT_CONFIG = "https://doc.dovecot.org/2.3/configuration_manual/config_file/"

REH001 = Rule(
    id="REH001",
    name="rehearsal-refused-to-start",
    severity=Severity.MEDIUM,
    short="Dovecot refuses to start with the committed configuration: the deploy would fail.",
    full="The rehearsal started the real Dovecot of the file's version (in a sandbox, on "
         "loopback) with the committed configuration, and Dovecot stopped with a fatal "
         "error. Deployed as it is, the server would not come up (or a reload would be "
         "refused and the old configuration would keep running). The finding carries "
         "Dovecot's own message and the line it names.",
    remediation="Fix the line Dovecot names, then check with `doveconf -n -c dovecot.conf` "
                "on a machine with the same Dovecot version as production.",
    references=(DOVECOT_CONFIG,),
    kind="lint",
)

REH002 = Rule(
    id="REH002",
    name="rehearsal-incomplete",
    severity=Severity.MEDIUM,
    short="The rehearsal of a Dovecot configuration could not finish, so it is not judged.",
    full="The gate was asked to rehearse this configuration but could not start the "
         "matching Dovecot, Dovecot did not listen in time, or the sandbox could not be "
         "built. A rehearsal that could not finish is never a pass.",
    remediation="Install the Dovecot version the file is written for (2.3: `apt-get install "
                "dovecot-imapd`; 2.4: the Debian 13 root filesystem, `scripts/rootfs24.sh`), "
                "or remove the file from `rehearse:` / drop `--rehearse`.",
    kind="lint",
)

REH003 = Rule(
    id="REH003",
    name="rehearsal-disagrees-with-lint",
    severity=Severity.NOTE,
    short="The linter's prediction and what the rehearsed Dovecot did disagree.",
    full="The linter reads the file and predicts what Dovecot does for a client from the "
         "internet; the rehearsal asked Dovecot. Where they disagree, either the linter is "
         "wrong (please report it) or Dovecot has a quirk worth knowing, such as OpenSSL "
         "refusing a protocol the file enables. The live result is what Dovecot does.",
    remediation="Read the live evidence; trust it over the prediction, and state the setting "
                "explicitly so file and server agree.",
    kind="lint",
)

REH004 = Rule(
    id="REH004",
    name="rehearsal-sandbox",
    severity=Severity.NOTE,
    short="What the rehearsal had to rewrite to run the configuration in a sandbox.",
    full="A rehearsal copies the configuration into a temporary directory and rewrites only "
         "what cannot work there: listeners to loopback ports, directories and logs into "
         "the temporary directory, passdb/userdb to a static one that accepts nobody, "
         "certificates that are not in the repository to a throwaway one (certificate "
         "rules are then not judged), trust settings so the probe counts as an internet "
         "client, includes outside the tree and anything that would run a command "
         "removed. This note lists each rewrite, so a reader knows what was not proven.",
    remediation="Nothing to fix. Commit what the rehearsal had to replace (for example the "
                "certificate) if it should be rehearsed too.",
    kind="lint",
)

# The family's rules in catalogue order (README table, docs/rules.md).
RULES: tuple[Rule, ...] = (
    REH001, REH002, REH003, REH004,
)
