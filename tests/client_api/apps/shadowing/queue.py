WHO = "the application's queue.py"
