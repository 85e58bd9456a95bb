"""What an inference run writes: report, overlays, review page, CVAT COCO and QuPath GeoJSON."""
