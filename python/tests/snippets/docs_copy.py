# The docs' first example, as written there but for the buckets (on the local cloud here).
import skyplane

client = skyplane.SkyplaneClient(aws_config=skyplane.AWSConfig())
print(f"Log dir: {client.log_dir}/client.log")
client.copy(
    src="local://py-snippet-src/imagenet/", dst="local://py-snippet-dst/imagenet/", recursive=True
)
