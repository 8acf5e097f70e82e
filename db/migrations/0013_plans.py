from tortoise import migrations
from tortoise.migrations import operations as ops
from db.records import PlanStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_usage')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Plan',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=128)),
                ('session', fields.ForeignKeyField('models.ChatSession', source_field='session_id', db_constraint=True, to_field='id', related_name='plans', on_delete=OnDelete.CASCADE)),
                ('agent', fields.CharField(max_length=32)),
                ('title', fields.CharField(max_length=200)),
                ('steps', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(description='PROPOSED: proposed\nAPPROVED: approved\nRUNNING: running\nDONE: done\nREJECTED: rejected\nCANCELLED: cancelled\nFAILED: failed', enum_type=PlanStatus, max_length=16)),
                ('feedback', fields.TextField(null=True, unique=False)),
                ('version', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'plans', 'app': 'models', 'indexes': [Index(fields=['session_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A plan an agent proposed: its steps (each with its status and result) and its status.'},
            bases=['Model'],
        ),
    ]
