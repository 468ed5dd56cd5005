# The docs' dataplane example, as written there but for the regions and buckets (the local cloud's).
import time

import skyplane

client = skyplane.SkyplaneClient(aws_config=skyplane.AWSConfig())
print(f"Log dir: {client.log_dir}/client.log")
dp = client.dataplane("local", "east", "local", "west", n_vms=1)
with dp.auto_deprovision():
    dp.provision()
    dp.queue_copy(
        "local://py-snippet-src/imagenet/", "local://py-snippet-dst/imagenet-dp/", recursive=True
    )
    tracker = dp.run_async()
    # Follow the transfer with tracker.query_bytes_remaining().
    while True:
        bytes_remaining = tracker.query_bytes_remaining()
        timestamp = time.strftime("%H:%M:%S", time.localtime())
        if bytes_remaining is None:
            print(f"{timestamp} Transfer not yet started")
        elif bytes_remaining > 0:
            print(f"{timestamp} {(bytes_remaining / (2**30)):.2f}GB left")
        else:
            break
        time.sleep(1)
    tracker.join()
    print("Transfer complete!")
