# mypy: ignore-errors
# ruff: noqa: UP004, UP032  (QuecPython style: older MicroPython firmware has no f-strings)
# A QuecPython LwM2M application written the way QuecPython's own examples are: a client
# class that clears old settings, configures Security, Server, Epnamemode and Fota,
# registers a callback and registers from a _thread. It runs unchanged on a module and,
# through `python -m client_api run`, on a PC. The tests fill in SERVER_HOST/SERVER_PORT.
import _thread

import checkNet
import log
import lwm2m
import modem
import utime

SERVER_HOST = "127.0.0.1"
SERVER_PORT = "5683"

app_log = log.getLogger("lwm2m_app")


class Lwm2mClient(object):
    def __init__(self):
        self.lw = lwm2m()
        self.imei = modem.getDevImei()
        self.url = "coap://" + SERVER_HOST + ":" + SERVER_PORT
        self.security = [1, 1000, self.url, 0, 3]
        self.server = [1, 60, 2, 60, 86400, 1, "U"]
        self.epname_mode = [3]
        self.fota = [0, 1]
        self.connected = False

    def say(self, text):
        print("[lwm2m_app] {}".format(text))

    def on_event(self, args):
        self.say("event {}".format(args))
        if '"ready","successfully"' in args[2]:
            self.connected = True
            self.say("Connect Success!")
            self.say("stat {}".format(self.lw.stat()))
        elif '"ready","failed"' in args[2]:
            self.say("Connect Failed!")

    def prepare(self):
        # Old settings must go first, as QuecPython's example does.
        self.lw.config(self.lw.Reset, [])
        self.lw.config(self.lw.Security, [1])
        self.lw.config(self.lw.Security, [0])

    def configure(self):
        results = [
            self.lw.config(self.lw.Security, self.security),
            self.lw.config(self.lw.Server, self.server),
            self.lw.config(self.lw.Epnamemode, self.epname_mode),
            self.lw.config(self.lw.Fota, self.fota),
        ]
        self.say("config results {}".format(results))

    def run(self):
        self.say("imei {} init {}".format(self.imei, self.lw.init()))
        self.prepare()
        self.configure()
        self.lw.register_call(self.on_event)
        started = utime.ticks_ms()
        self.say("register {}".format(self.lw.register()))
        app_log.info("register took {} ms".format(utime.ticks_diff(utime.ticks_ms(), started)))


stage, state = checkNet.waitNetworkReady(30)
print("[lwm2m_app] network stage={} state={}".format(stage, state))
client = Lwm2mClient()


def worker(args):
    client.run()


if __name__ == "__main__":
    _thread.start_new_thread(worker, ("lwm2m",))
