"""What an inference run writes: report, overlays, review page, CVAT COCO and QuPath GeoJSON.

Each output is a sink (:mod:`.sinks`) that takes a segmented image and is
closed with the run's rows.
"""
