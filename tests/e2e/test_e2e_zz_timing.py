import time, json
from agentd.testing.fakellm import fault
from e2e_helpers import config_text
def test_t(make_daemon, fake_llm):
    T=time.monotonic; t0=T()
    d = make_daemon(config=config_text()); print("start", T()-t0)
    t=T(); r = d.ctl("--json", "goal", "create", "x"); print("create", T()-t)
    gid = json.loads(r.stdout)["id"]
    fake_llm.add(fault(401, "Incorrect API key provided"))
    t=T(); r = d.ctl("--json", "goal", "run", gid); print("run", T()-t)
    rid = json.loads(r.stdout)["id"]
    t=T(); run = d.wait_run(rid); print("wait", T()-t, run["status"])
