WHO = "the application's serial.py"
