"""``python -m spiffe_helper.devagent``: the dev agent without the top-level CLI."""

from spiffe_helper.devagent.cli import dev_agent

if __name__ == "__main__":
    dev_agent(prog_name="spiffe-helper dev-agent")
