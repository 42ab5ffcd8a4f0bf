# mypy: ignore-errors
# ruff: noqa: UP004, UP031  (QuecPython style: older MicroPython firmware has no f-strings)
"""A QuecPython application in the style of QuecPython's own examples: it counts its
boots in a JSON file on /usr, reads the clock and the serving cell, and reports the
signal on a timer through the system bus until it has sent three reports."""
import checkNet
import dataCall
import log
import net
import osTimer
import pm
import ql_fs
import sys_bus
import uos
from machine import RTC
from misc import Power

PROJECT_NAME = "QuecPython_System_example"
PROJECT_VERSION = "1.0.0"
CONFIG_FILE = "/usr/system_app.json"
REPORT_TOPIC = "signal/report"

log.basicConfig(level=log.INFO)
app_log = log.getLogger("system_app")


def load_config():
    if not ql_fs.path_exists(CONFIG_FILE):
        ql_fs.touch(CONFIG_FILE, {"boots": 0, "report_ms": 200, "reports": 3})
    config = ql_fs.read_json(CONFIG_FILE)
    config["boots"] += 1
    ql_fs.touch(CONFIG_FILE, config)
    with open("/usr/boot.log", "a") as f:
        f.write("boot %d\n" % config["boots"])
    return config


class SignalReporter(object):
    def __init__(self, period_ms, count):
        self.period_ms = period_ms
        self.count = count
        self.sent = 0
        self.timer = osTimer()

    def start(self):
        sys_bus.subscribe(REPORT_TOPIC, self.on_report)
        self.timer.start(self.period_ms, 1, self.on_timer)

    def on_timer(self, args):
        self.sent += 1
        sys_bus.publish(REPORT_TOPIC, {"n": self.sent, "csq": net.csqQueryPoll()})
        if self.sent == self.count:
            self.timer.stop()
            self.timer.delete_timer()

    def on_report(self, topic, msg):
        print("[system_app] %s %d csq %d" % (topic, msg["n"], msg["csq"]))


if __name__ == "__main__":
    stage, state = checkNet.waitNetworkReady(30)
    print("[system_app] network stage=%d state=%d" % (stage, state))
    config = load_config()
    print("[system_app] boot %d" % config["boots"])
    with open("/usr/boot.log") as f:
        print("[system_app] boot.log lines %d" % len(f.read().splitlines()))
    print("[system_app] usr files %s" % sorted(uos.listdir("/usr")))

    rtc = RTC()
    print("[system_app] rtc set %d" % rtc.datetime((2030, 1, 2, 0, 3, 4, 5, 0)))
    now = rtc.datetime()
    print("[system_app] rtc now %04d-%02d-%02d week %d %02d:%02d" % (
        now[0], now[1], now[2], now[3], now[4], now[5]))

    print("[system_app] serving mcc %d mnc %d ci %X lac %X" % (
        net.getServingMcc(), net.getServingMnc(), net.getServingCi(), net.getServingLac()))
    gw, lte = net.getSignal(1)
    print("[system_app] lte rssi %d rsrp %d rsrq %d sinr %d" % (lte[0], lte[1], lte[2], lte[4]))
    print("[system_app] net mode %s config %s" % (net.getNetMode(), net.getConfig()))
    nitz = net.nitzTime()
    print("[system_app] nitz %s" % (nitz != -1 and nitz[1] > 0))
    print("[system_app] apn %s pdp range %s" % (dataCall.getApn(0), dataCall.getPdpRange()))
    print("[system_app] psm set %s read %s" % (pm.set_psm_time(1, 1, 0, 5), pm.get_psm_time()))
    try:
        print("[system_app] vbatt %d" % Power.getVbatt())
    except NotImplementedError as e:
        print("[system_app] vbatt unsupported: %s" % e)

    SignalReporter(config["report_ms"], config["reports"]).start()
    app_log.info("reporter started")
