# Reset cause of this boot, as a name for the core's BOOT event (and so the audit).
#
# machine.reset_cause() gives PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET or
# SOFT_RESET. Stock MicroPython on the ESP32 folds a brownout into PWRON_RESET
# (ports/esp32/modmachine.c maps ESP_RST_BROWNOUT so); when the firmware offers the raw
# ESP-IDF reason (esp32.reset_reason(), a custom build) brownout and panic are told apart.

# esp_reset_reason_t (ESP-IDF components/esp_system/include/esp_system.h)
ESP_RST = {1: "power_on", 2: "hard", 3: "hard", 4: "panic", 5: "watchdog", 6: "watchdog",
           7: "watchdog", 8: "deep_sleep", 9: "brownout"}

NAMES = (("PWRON_RESET", "power_on"), ("HARD_RESET", "hard"), ("WDT_RESET", "watchdog"),
         ("DEEPSLEEP_RESET", "deep_sleep"), ("SOFT_RESET", "soft"))


def name(machine, esp32=None):
    """The reset cause name: power_on, hard, watchdog, deep_sleep, soft, brownout, panic
    or unknown."""
    raw = getattr(esp32, "reset_reason", None) if esp32 is not None else None
    if raw is not None:
        try:
            n = ESP_RST.get(raw())
        except Exception:  # a broken optional API must not stop the boot
            n = None
        if n is not None:
            return n
    try:
        cause = machine.reset_cause()
    except Exception:
        return "unknown"
    for const, label in NAMES:
        if getattr(machine, const, None) == cause:
            return label
    return "unknown"
